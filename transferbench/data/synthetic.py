"""The synthetic multi-domain CT benchmark, written in each real dataset's own on-disk layout.

``prepare_synthetic(out)`` writes a COVID-19-CT-Seg look-alike with the 20 real case ids (radiopaedia cases
stored as 0..255 after a -1250..250 HU window, like the real ones; coronacases in raw HU), ``N_HELDOUT``
held-out cases of the same process for validation (``sources.heldout``), an unlabelled pool of ``N_UNLABELLED``
more for self-supervised pretraining (``sources.unlabelled``), four source
datasets in the MSD, StructSeg, NSCLC and LIDC-export layouts, and three control sources with a known
expected effect (:mod:`transferbench.data.sources.controls`: positive, negative and anatomy control, one set
of images with three label sets). The result is deterministic in ``seed`` and
cached: a second call with the same parameters returns at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, ornt_transform

from transferbench.data.intensity import HU_WINDOW
from transferbench.data.io import save_nifti
from transferbench.data.phantom import Scanner, make_phantom
from transferbench.data.sources import create_source
from transferbench.data.splits import benchmark_splits, source_split
from transferbench.errors import DataError
from transferbench.files import atomic_write_text

# 2: effusion in the pleural space (displaces the lung); 3: + unlabelled NSCLC tumour; 4: per-case anatomy
# (phantom.Body) and the three control sources; 5: held-out target-domain validation cases; 6: the unlabelled
# pool (every earlier case unchanged: each is drawn from its own seed)
GENERATOR_VERSION = 6
# Held-out COVID-like validation cases (half coronacases-, half radiopaedia-like): enough that a validation
# Dice averages over both scanners and several lesion loads, few enough that validating every few hundred
# steps costs a few per cent of a run (one sliding-window pass each).
N_HELDOUT = 4
# The unlabelled COVID-like pool for self-supervised pretraining: more volumes than any labelled source (16),
# as images outnumber annotations in practice, and few enough to generate in seconds and to visit every
# volume many times in a CPU pretraining of a few hundred steps.
N_UNLABELLED = 24
MANIFEST = "synthetic_manifest.json"


@dataclass(frozen=True)
class Domain:
    """A synthetic dataset: which real source it mirrors, its lesion and its scanner."""

    source: str
    lesion: str
    scanner: Scanner
    axcodes: str  # storage orientation, as the real conversions vary
    label: str = "lesion"  # the mask written: "lesion", "decoy" (another draw, not in the image) or "lungs"


DOMAINS: dict[str, Domain] = {
    "coronacases": Domain("covid19_ct_seg", "covid", Scanner((3.6, 3.6, 5.0), 22.0, 1.2, 0.0, 0.0), "LPS"),
    "radiopaedia": Domain("covid19_ct_seg", "covid", Scanner((4.0, 4.0, 6.0), 30.0, 1.8, 15.0, 90.0), "RAS"),
    "msd_lung_tumor": Domain(
        "msd_lung_tumor", "tumor", Scanner((3.4, 3.4, 5.0), 26.0, 1.4, -10.0, 120.0), "LPS"
    ),
    "structseg_gtv": Domain("structseg_gtv", "gtv", Scanner((3.8, 3.8, 5.5), 20.0, 1.6, 5.0, 60.0), "RPS"),
    "nsclc_pleural_effusion": Domain(
        "nsclc_pleural_effusion", "effusion", Scanner((3.9, 3.9, 6.5), 35.0, 1.5, -20.0, 0.0), "LPS"
    ),
    "lidc_idri": Domain("lidc_idri", "nodule", Scanner((3.3, 3.3, 4.5), 30.0, 1.2, 10.0, 0.0), "LPS"),
}
CONTROL_SCANNER = Scanner((3.5, 3.5, 5.5), 26.0, 1.5, -5.0, 40.0)
CONTROL_DOMAINS = {
    "positive_control": Domain("positive_control", "covid", CONTROL_SCANNER, "LPS", "lesion"),
    "negative_control": Domain("negative_control", "covid", CONTROL_SCANNER, "LPS", "decoy"),
    "anatomy_control": Domain("anatomy_control", "covid", CONTROL_SCANNER, "LPS", "lungs"),
}
DOMAINS.update(CONTROL_DOMAINS)
SOURCE_DOMAINS = ("msd_lung_tumor", "structseg_gtv", "nsclc_pleural_effusion", "lidc_idri")


def source_case_ids(source: str, n_cases: int) -> list[str]:
    """Real case ids for a synthetic source of ``n_cases``: 80% from the benchmark's train list, 20% val."""
    if source in CONTROL_DOMAINS:
        return [f"control_{i:03d}" for i in range(1, n_cases + 1)]
    split = benchmark_splits()["sources"].get(source)
    n_val = max(1, n_cases // 5)
    if split is None:  # LIDC-IDRI is not in the benchmark split file
        return [f"LIDC-IDRI-{i:04d}" for i in range(1, n_cases + 1)]
    return list(split["train"][: n_cases - n_val]) + list(split["val"][:n_val])


def _case_seed(seed: int, domain: str, case_id: str) -> list[int]:
    digest = hashlib.sha256(f"{domain}/{case_id}".encode()).digest()
    return [seed, int.from_bytes(digest[:4], "little")]


def _oriented(array: np.ndarray, spacing, origin, axcodes: str) -> tuple[np.ndarray, np.ndarray]:
    """Reorient an RAS-indexed array to ``axcodes`` storage and return it with its affine."""
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = origin
    transform = ornt_transform(axcodes2ornt("RAS"), axcodes2ornt(tuple(axcodes)))
    return apply_orientation(array, transform), affine @ inv_ornt_aff(transform, array.shape)


def _write_controls(case_id: str, seed: int, out: str) -> str:
    """One control case: one image, written into each control source with that source's mask."""
    ph = make_phantom(
        "covid", CONTROL_SCANNER, _case_seed(seed, "controls", case_id), _case_seed(seed, "decoy", case_id)
    )
    masks = {"lesion": ph.lesion, "decoy": ph.decoy, "lungs": (ph.lungs > 0).astype(np.uint8)}
    image = np.round(ph.image).astype(np.int16)
    for name, domain in CONTROL_DOMAINS.items():
        image_path, label_path = create_source(name).case_paths(
            Path(out) / create_source(name).dirname, case_id
        )
        arr, affine = _oriented(image, ph.spacing, ph.origin, domain.axcodes)
        save_nifti(image_path, arr, affine)
        save_nifti(
            label_path, _oriented(masks[domain.label], ph.spacing, ph.origin, domain.axcodes)[0], affine
        )
    return f"controls/{case_id}"


def heldout_case_ids(n: int = N_HELDOUT) -> list[str]:
    """Ids of the held-out validation cases: outside the benchmark's 20 ids by construction."""
    return [f"heldout_{i:03d}" for i in range(1, n + 1)]


def unlabelled_case_ids(n: int = N_UNLABELLED) -> list[str]:
    """Ids of the unlabelled pool: outside the benchmark's 20 ids by construction."""
    return [f"unlabelled_{i:03d}" for i in range(1, n + 1)]


def _write_target_like(kind: str, case_id: str, seed: int, out: str) -> str:
    """One held-out (``heldout``) or pool (``unlabelled``) case: the target's lesion process and one of its
    two scanners (alternating), stored in HU; the pool gets no label file."""
    domain = DOMAINS["coronacases" if int(case_id[-3:]) % 2 else "radiopaedia"]
    ph = make_phantom(domain.lesion, domain.scanner, _case_seed(seed, kind, case_id))
    source = create_source(f"synthetic_{kind}")
    image_path, label_path = source.case_paths(Path(out) / source.dirname, case_id)
    image = np.round(ph.image).astype(np.int16)
    arr, affine = _oriented(image, ph.spacing, ph.origin, "LPS")
    save_nifti(image_path, arr, affine)
    if label_path is not None:
        save_nifti(label_path, _oriented(ph.lesion, ph.spacing, ph.origin, "LPS")[0], affine)
    return f"{kind}/{case_id}"


def _write_case(job: tuple[str, str, int, str]) -> str:
    domain_name, case_id, seed, out = job
    if domain_name == "controls":
        return _write_controls(case_id, seed, out)
    if domain_name in ("heldout", "unlabelled"):
        return _write_target_like(domain_name, case_id, seed, out)
    domain = DOMAINS[domain_name]
    ph = make_phantom(domain.lesion, domain.scanner, _case_seed(seed, domain_name, case_id))
    source = create_source(domain.source)
    base = Path(out) / source.dirname
    image_path, label_path = source.case_paths(base, case_id)
    if domain_name == "radiopaedia":  # stored windowed and rescaled to 0..255, like the real volumes
        lo, hi = HU_WINDOW
        image = np.round((np.clip(ph.image, lo, hi) - lo) / (hi - lo) * 255.0).astype(np.uint8)
    else:
        image = np.round(ph.image).astype(np.int16)
    arr, affine = _oriented(image, ph.spacing, ph.origin, domain.axcodes)
    save_nifti(image_path, arr, affine)
    save_nifti(label_path, _oriented(ph.lesion, ph.spacing, ph.origin, domain.axcodes)[0], affine)
    if domain.source == "covid19_ct_seg":
        paths = source.all_label_paths(base, case_id)
        lungs = ph.lungs
        joint = np.where(ph.lesion > 0, 3, lungs).astype(np.uint8)
        save_nifti(paths["lungs"], _oriented(lungs, ph.spacing, ph.origin, domain.axcodes)[0], affine)
        save_nifti(
            paths["lungs_infection"], _oriented(joint, ph.spacing, ph.origin, domain.axcodes)[0], affine
        )
    return f"{domain_name}/{case_id}"


def _msd_dataset_json(out: Path, case_ids: list[str]) -> None:
    meta = {
        "name": "Lung",
        "description": "Synthetic stand-in for MSD Task06 Lung (transferbench)",
        "tensorImageSize": "3D",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "cancer"},
        "numTraining": len(case_ids),
        "numTest": 0,
        "training": [
            {"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in case_ids
        ],
        "test": [],
    }
    atomic_write_text(out / "Task06_Lung" / "dataset.json", json.dumps(meta, indent=1))


def synthetic_params(seed: int = 0, n_source_cases: int = 16) -> dict:
    """What determines the generated data; part of every sweep run's identity so new data means new runs."""
    return {"generator_version": GENERATOR_VERSION, "seed": seed, "n_source_cases": n_source_cases}


def is_prepared(out: str | Path) -> bool:
    """Whether ``out`` holds a complete synthetic benchmark of this generator version (older: an error)."""
    manifest = Path(out) / MANIFEST
    if not manifest.is_file():
        return False
    version = json.loads(manifest.read_text()).get("params", {}).get("generator_version")
    if version != GENERATOR_VERSION:
        raise DataError(
            f"{manifest}: synthetic benchmark of generator version {version}, this transferbench writes "
            f"version {GENERATOR_VERSION}; delete the folder to regenerate it"
        )
    return True


CLAIM = ".transferbench_synthetic"  # written first: the folder is the generator's, to create or complete


def _claim(out: Path, params: dict) -> None:
    """Make ``out`` the generator's folder, refusing one that holds anything the generator did not write
    (a user's real dataset must never be overwritten with phantoms)."""
    marker = out / CLAIM
    mine = marker.is_file() and json.loads(marker.read_text()) == params
    others = sorted(p.name for p in out.iterdir() if p.name != CLAIM) if out.is_dir() else []
    if others and not mine:
        raise DataError(
            f"{out}: not empty and not a synthetic benchmark (no {MANIFEST}; it holds {', '.join(others[:6])}"
            f"{', ...' if len(others) > 6 else ''}); the generator only creates or completes its own folder and "
            "writes nothing here. Point the synthetic benchmark at a new or empty folder, or, to use the data in "
            "this folder, set data.prepare_synthetic false (a sweep: prepare_synthetic false)"
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, json.dumps(params))


def _case_ids(n_source_cases: int) -> tuple[list[str], dict[str, list[str]], list[str], list[str], list[str]]:
    """(COVID-19 ids, source ids per domain, control ids, held-out ids, unlabelled pool ids)."""
    covid_ids = benchmark_splits()["covid19_ct_seg"]["cases"]
    ids = {d: source_case_ids(DOMAINS[d].source, n_source_cases) for d in SOURCE_DOMAINS}
    control = source_case_ids("positive_control", n_source_cases)
    return covid_ids, ids, control, heldout_case_ids(), unlabelled_case_ids()


def prepare_synthetic(
    out: str | Path,
    seed: int = 0,
    n_source_cases: int = 16,
    workers: int | None = None,
    verbose: bool = True,
) -> Path:
    """Generate the benchmark into ``out`` (no-op if it is already there with the same parameters)."""
    out = Path(out)
    params = synthetic_params(seed, n_source_cases)
    manifest = out / MANIFEST
    if manifest.is_file():
        have = json.loads(manifest.read_text())
        if have.get("params") == params:
            if verbose:
                print(f"synthetic benchmark already prepared in {out} (seed {seed}); nothing to do")
            return out
        raise DataError(
            f"{manifest}: folder holds a synthetic benchmark made with {have.get('params')}, not {params}; "
            "choose another --out or delete the folder"
        )
    if n_source_cases < 2:
        raise ValueError("n_source_cases must be at least 2 (one training and one validation case)")
    _claim(out, params)
    covid_ids, ids, control_ids, heldout_ids, pool_ids = _case_ids(n_source_cases)
    jobs = [
        ("radiopaedia" if c.startswith("radiopaedia") else "coronacases", c, seed, str(out))
        for c in covid_ids
    ]
    jobs += [(d, c, seed, str(out)) for d in SOURCE_DOMAINS for c in ids[d]]
    jobs += [("controls", c, seed, str(out)) for c in control_ids]
    jobs += [("heldout", c, seed, str(out)) for c in heldout_ids]
    jobs += [("unlabelled", c, seed, str(out)) for c in pool_ids]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for i, done in enumerate(pool.map(_write_case, jobs, chunksize=2), 1):
            if verbose and (i % 10 == 0 or i == len(jobs)):
                print(f"  [{i}/{len(jobs)}] {done}", flush=True)
    _msd_dataset_json(out, ids["msd_lung_tumor"])
    ids.update({d: control_ids for d in CONTROL_DOMAINS})
    every = (*SOURCE_DOMAINS, *CONTROL_DOMAINS)
    body = {
        "params": params,
        "domains": {k: asdict(v) for k, v in DOMAINS.items()},
        "cases": {
            "covid19_ct_seg": covid_ids,
            **{DOMAINS[d].source: ids[d] for d in every},
            "synthetic_heldout": heldout_ids,
            "synthetic_unlabelled": pool_ids,
        },
        "source_splits": {DOMAINS[d].source: source_split(DOMAINS[d].source, ids[d]) for d in every},
    }
    atomic_write_text(manifest, json.dumps(body, indent=1))  # marks the set complete
    from transferbench.data.similarity import write_similarity

    write_similarity(out)  # the measured source-target lesion similarity, beside the benchmark
    if verbose:
        print(f"synthetic benchmark written to {out}: {len(jobs)} cases")
    return out
