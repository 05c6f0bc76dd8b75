"""``transferbench predict -i IN -o OUT --run RUN``: masks for a folder of new volumes, as
``nnUNetv2_predict -i -o`` writes them.

The network, its transfer strategy and its settings come from the run folder (``config.yaml`` and a
checkpoint); the preprocessing (spacing, and for the ``nnunet`` pipeline the CT normalisation) is the one
the run trained with, read from the checkpoint (older checkpoints: from the config). Each input is
predicted like a test case (sliding window or slice by slice, test-time mirroring when the run has it) and
its mask written on the input's own grid and affine as ``OUT/<case>.nii.gz`` (nnU-Net's ``_0000`` channel
suffix dropped). Every input is opened and its voxels checked before any compute; every unusable one is named in one
error and nothing is written. Masks are written atomically, so an interrupted folder holds only whole files and a
rerun skips what is done.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nibabel as nib
import torch
import yaml
from monai.transforms import Compose

from transferbench.config import read_yaml
from transferbench.data.io import save_nifti
from transferbench.data.transforms import inference_transforms
from transferbench.errors import DataError, TransferbenchError
from transferbench.models.registry import network_class
from transferbench.run_folder import RunFolder
from transferbench.training.cli import check_checkpoint
from transferbench.training.module import SegmentationModule, stored_grid_class_map

SUFFIXES = (".nii.gz", ".nii")


def _case_id(path: Path) -> str:
    stem = next(path.name[: -len(s)] for s in SUFFIXES if path.name.endswith(s))
    return stem[:-5] if stem.endswith("_0000") else stem


def _inputs(folder: Path) -> list[Path]:
    """Every input volume, each opened and its voxels read and checked before any compute (a truncated,
    non-finite, non-3D or one-slice volume is named, with every other bad one; nothing is written)."""
    if not folder.is_dir():
        raise DataError(f"{folder}: input folder does not exist")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    files = [p for p in entries if p.name.endswith(SUFFIXES) and p.is_file()]
    stray = [p.name for p in entries if p not in files]
    if stray:
        print(f"{folder}: not .nii / .nii.gz volumes, left aside: {', '.join(stray)}", file=sys.stderr)
    if not files:
        raise DataError(f"{folder}: no .nii or .nii.gz volumes")
    bad = [f"  - {p}: {problem}" for p in files if (problem := _volume_problem(p))]
    if bad:
        raise DataError(f"{len(bad)} input(s) cannot be predicted; nothing written:\n" + "\n".join(bad))
    return files


def _volume_problem(path: Path) -> str | None:
    """What makes one input unusable (None when it is a readable, finite 3D volume)."""
    import numpy as np

    try:
        img = nib.load(str(path))
        shape = img.shape
    except Exception as err:  # noqa: BLE001 - nibabel raises many types on broken headers
        return f"unreadable NIfTI ({type(err).__name__}: {err})"
    if len(shape) != 3:
        return f"{len(shape)}D image, a CT volume is 3D"
    if min(shape) < 2:
        return f"shape {tuple(shape)}: fewer than 2 voxels along an axis, not a CT volume"
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as err:  # noqa: BLE001 - EOFError, zlib.error, ValueError on truncated data
        return f"voxel data is truncated or corrupt ({type(err).__name__}: {err})"
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        return f"{int((~np.isfinite(data)).sum())} voxels are NaN or infinite"
    return None


def _network(config: dict):
    """The run's network as configured (registry name or import path, ``init_args``)."""
    net = (config.get("model") or {}).get("net") or {}
    args = (net.get("init_args") if isinstance(net, dict) else None) or {}
    if not isinstance(args, dict):
        raise TransferbenchError(f"model.net.init_args must be a mapping, got {type(args).__name__}")
    return network_class(config, trusted=False)(**args)


def load_run(run_dir: str | Path, checkpoint: str | None = None) -> tuple[SegmentationModule, Compose]:
    """The trained module of a run folder (evaluation mode) and its inference preprocessing."""
    run = RunFolder(run_dir)
    config_path = run.file(RunFolder.CONFIG)
    ckpt = Path(checkpoint) if checkpoint else run.last_checkpoint
    if not config_path.is_file() or not ckpt.is_file():
        raise TransferbenchError(
            f"{run.path}: not a finished run folder (needs {RunFolder.CONFIG} and {ckpt.name}; a `transferbench "
            "fit` writes both)"
        )
    try:
        config = read_yaml(config_path)
    except yaml.YAMLError as err:
        raise TransferbenchError(f"{config_path}: not valid YAML ({err})") from None
    if not isinstance(config, dict):
        raise TransferbenchError(f"{config_path}: not a fit config (a YAML mapping)")
    net = _network(config)  # refuses an unregistered network before the checkpoint is read
    check_checkpoint(str(ckpt))
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    hp = dict(state.get("hyper_parameters") or {})
    hp.pop("_instantiator", None)
    module = SegmentationModule(net=net, **hp)
    module.load_state_dict(state["state_dict"])
    data = {**(config.get("data") or {}), **(state.get("datamodule_hyper_parameters") or {})}
    saved = state.get("CTSegDataModule") or {}
    spacing = saved.get("target_spacing") or data.get("target_spacing")
    if spacing is None:
        raise TransferbenchError(f"{ckpt}: records no target spacing (a checkpoint from before it was saved)")
    intensity = saved.get("intensity_properties")
    if data.get("pipeline", "default") == "nnunet" and not intensity:
        raise TransferbenchError(f"{ckpt}: an nnunet-pipeline run without its intensity properties")
    transform = inference_transforms(tuple(float(s) for s in spacing), intensity)
    return module.eval(), transform


def predict_folder(
    inputs: str | Path,
    output: str | Path,
    run_dir: str | Path,
    checkpoint: str | None = None,
    device: str | None = None,
) -> list[Path]:
    """Write one mask per input volume; returns the masks written (skips those already there)."""
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise TransferbenchError(f"-o {out}: exists and is not a folder; masks are written into a folder")
    module, transform = load_run(run_dir, checkpoint)
    files = _inputs(Path(inputs))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    module.to(device)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for k, path in enumerate(files, 1):
        target = out / f"{_case_id(path)}.nii.gz"
        if target.is_file():
            print(f"[{k}/{len(files)}] {target.name}: already there, skipped", file=sys.stderr)
            continue
        start = time.perf_counter()
        try:
            d = transform({"image": str(path)})
        except TransferbenchError as err:
            raise DataError(f"{path}: {err}") from err
        with torch.no_grad():
            probs = module.predict_probs(d["image"][None].to(device)).cpu()
        mask = stored_grid_class_map(transform, d["image"], probs[0])
        img = nib.load(str(path))
        if mask.shape != img.shape[:3]:
            raise RuntimeError(f"{path}: mask {mask.shape} is not on the input grid {img.shape[:3]}")
        save_nifti(target, mask, img.affine)
        written.append(target)
        print(
            f"[{k}/{len(files)}] {target.name} {mask.shape} in {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
    return written
