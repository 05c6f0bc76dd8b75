"""LightningDataModule for 3D CT segmentation on any registered source, with the benchmark's fixed folds."""

from __future__ import annotations

from typing import Literal

import pytorch_lightning as pl
import torch
from monai.data import DataLoader, Dataset, list_data_collate
from pytorch_lightning.utilities import rank_zero_info
from torch.utils.data import Sampler

from transferbench.data import nnunet
from transferbench.data.cache import LoadCached, PreprocessedCache, default_cache_dir
from transferbench.data.fingerprint import dataset_fingerprint
from transferbench.data.io import inspect_pair_once
from transferbench.data.options import TARGET, check_training_options, read_sources
from transferbench.data.sampling import EpochSampler
from transferbench.data.slices import SliceDataset, multiscale_sizes, slice_dataloader
from transferbench.data.sources import Case, Source
from transferbench.data.splits import covid_fold, label_budget, source_split
from transferbench.data.synthetic import is_prepared, prepare_synthetic
from transferbench.data.transforms import inference_transforms, train_patch_transforms
from transferbench.errors import DataError


class CTSegDataModule(pl.LightningDataModule):
    """3D patches for training, whole preprocessed volumes for validation, original files for testing.

    Args:
        root: data root holding the dataset folders (or a dataset folder itself).
        dataset: registered source name (``transferbench data sources``), or a list of them to pool
            (multi-source pretraining). ``covid19_ct_seg`` uses the benchmark's fixed folds, other sources
            their benchmark train/val split (tested on the val cases).
        label_mode: for ``covid19_ct_seg``: ``infection`` (default), ``lungs`` or ``lungs_infection``.
        fold, fold_scheme: the COVID-19-CT-Seg fold (``folds_4_train``: Task 1, 4 training / 16 test
            cases; ``folds_16_train``: 16 training / 4 test).
        train_cases: label budget: train on only this many of the target fold's training cases, the first
            of a ``subset_seed``-fixed permutation (nested across budgets, same for every strategy of a
            seed; test cases unchanged). None: all of them.
        subset_seed: the permutation's seed (a sweep passes the replicate seed).
        val_cases: case ids to validate on. Default for the COVID-19 target: the fold's training cases
            (the fold has no spare case; validation then monitors convergence and is *not* used to pick
            the tested checkpoint, which is the last one). For a source: its split's val cases.
        val_source: validate on every case of this registered source instead (the synthetic benchmark's
            ``synthetic_heldout``: target-domain cases no run trains or tests on, so the curve shows
            convergence on unseen cases; a sweep sets it with ``target.val_source``).
        train_sources: further sources whose training cases join training (set by the ``source_only`` and
            ``joint`` strategies); their lesion is the dataset's foreground class.
        train_on: ``target`` (the dataset's training cases), ``sources`` (only ``train_sources``, validated
            on their val cases; benchmark Task 2) or ``both`` (benchmark Task 3).
        extra_test: further sources tested in full after the target's test cases (``["mosmed"]``: the
            extra COVID-19 test set); per-case results carry the source they come from as ``test_set``.
        source_fraction: with ``both``, the share of training draws from ``train_sources``; ``None`` draws
            every training case with equal probability.
        label_merge: when ``dataset`` pools several sources: ``merged`` (every lesion is class 1) or
            ``per_source`` (source ``i`` of the list is class ``i + 1``).
        target_spacing: resampling spacing in mm, (x, y, z) in RAS; ``None`` takes nnU-Net's choice from the
            fingerprint of the dataset's training cases (the median spacing, with its anisotropy rule).
        patch_size: training patch and sliding-window size (x, y, z) in voxels; two values (x, y) train a
            2D network on axial slices resized to that size (nCoVSegNet, ``data.slices``), tested slice by
            slice.
        batch_size: 3D: volumes per batch, each giving ``samples_per_volume`` patches. 2D: slices per batch,
            drawn over the slices of all training volumes (the authors' shuffled loader).
        pos_fraction: 3D: share of patches centred on a lesion voxel. 2D: share of drawn slices holding
            lesion; ``None`` draws every training slice alike (the authors).
        scales: 2D multi-scale training (nCoVSegNet: 0.75, 1, 1.25): every batch is yielded once per scale
            (sizes from ``multiscale_sizes``), one optimiser step each, as the authors train.
        iterations_per_epoch: optimiser steps per epoch (nnU-Net style fixed-length epochs); with several
            ``scales`` a multiple of their number (``iterations_per_epoch / len(scales)`` batches drawn).
        pipeline: ``default`` (the HU window to [0, 1], flips and intensity jitter: the CPU benchmark) or
            ``nnunet`` (nnU-Net v2's CT normalisation from the training set's fingerprint and its augmentation,
            ``data.nnunet``; 3D patches only). Each training phase normalises with the fingerprint of its own
            training cases; the properties travel in the checkpoint (``state_dict``).
        images_only: read no label (self-supervised pretraining): uniform random patches, empty labels.
        prepare_synthetic: generate the synthetic benchmark into ``root`` if it is not there yet.
    """

    def __init__(
        self,
        root: str = "data/synthetic",
        dataset: str | list[str] = TARGET,
        label_mode: str = "infection",
        fold: int = 0,
        fold_scheme: str = "folds_4_train",
        val_cases: list[str] | None = None,
        val_source: str | None = None,
        train_cases: int | None = None,
        subset_seed: int = 0,
        train_sources: list[str] | None = None,
        train_on: Literal["target", "sources", "both"] = "target",
        source_fraction: float | None = None,
        extra_test: list[str] | None = None,
        label_merge: Literal["merged", "per_source"] = "merged",
        target_spacing: tuple[float, float, float] | None = None,
        patch_size: tuple[int, ...] = (64, 64, 32),
        batch_size: int = 1,
        samples_per_volume: int = 2,
        pos_fraction: float | None = 0.5,
        scales: tuple[float, ...] = (1.0,),
        iterations_per_epoch: int = 25,
        num_workers: int = 0,
        cache_dir: str | None = None,
        prepare_synthetic: bool = False,
        synthetic_seed: int = 0,
        pipeline: Literal["default", "nnunet"] = "default",
        images_only: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if len(patch_size) not in (2, 3):
            raise DataError(
                f"data.patch_size {patch_size}: give (x, y, z) for 3D patches or (x, y) for 2D slices"
            )
        names = [dataset] if isinstance(dataset, str) else list(dataset)
        self.datasets, self.extra_sources, self.test_sources, self._val_source = read_sources(
            names, label_mode, train_sources, extra_test, val_source, val_cases
        )
        self.sources = {s.name: s for s in [*self.datasets, *self.extra_sources, *self.test_sources]}
        if self._val_source is not None:  # read like the others, counted in no training or test set
            self.sources.setdefault(self._val_source.name, self._val_source)
        check_training_options(self.hparams, self.sources, self.extra_sources)
        self.slice_sizes = multiscale_sizes(patch_size, scales) if len(patch_size) == 2 else None
        self.pooled_classes = label_merge == "per_source" and len(names) > 1
        self.cases: dict[str, list[Case]] = {}
        self._train: list[dict] = []
        self._train_weights: list[float] = []
        self._val: Dataset | list = []
        self._inference_transform = None
        self._spacing: tuple[float, float, float] | None = None
        self._intensity: dict[str, float] | None = None

    @property
    def num_classes(self) -> int:
        return 1 + len(self.datasets) if self.pooled_classes else self.datasets[0].num_classes

    def label_shift(self, case: Case) -> int:
        """Added to a case's foreground label: ``i`` for the ``i``-th pooled source with per-source labels."""
        if not self.pooled_classes:
            return 0
        return [s.name for s in self.datasets].index(case.source)

    def prepare_data(self) -> None:
        if self.hparams.prepare_synthetic and not is_prepared(self.hparams.root):  # older version: an error
            prepare_synthetic(self.hparams.root, seed=self.hparams.synthetic_seed)

    def _split(self, source: Source) -> dict[str, list[Case]]:
        found = {c.case_id: c for c in source.find_cases(self.hparams.root)}
        if source.name == TARGET:
            split = covid_fold(self.hparams.fold, self.hparams.fold_scheme)
            if self.hparams.train_cases is not None:
                split["train"] = label_budget(
                    split["train"], self.hparams.train_cases, self.hparams.subset_seed
                )
            split["val"] = list(split["train"])
        else:
            split = source_split(source.name, sorted(found))
            split["test"] = list(split["val"])
        missing = sorted({c for ids in split.values() for c in ids} - set(found))
        if missing:
            where = source.locate(self.hparams.root)
            raise DataError(f"{where}: {len(missing)} case(s) of the split are missing: {', '.join(missing)}")
        return {k: [found[c] for c in ids] for k, ids in split.items()}

    def resolve_cases(self) -> dict[str, list[Case]]:
        """Train / val / test cases on disk; any listed case that is missing is an error naming it."""
        target = [self._split(s) for s in self.datasets]
        extra = [self._split(s) for s in self.extra_sources]
        on = self.hparams.train_on
        cases = {
            "train": [c for sp in (target if on != "sources" else []) for c in sp["train"]]
            + [c for sp in (extra if on != "target" else []) for c in sp["train"]],
            "val": [c for sp in (target if on != "sources" else extra) for c in sp["val"]],
            "test": [c for sp in target for c in sp["test"]]
            + [c for s in self.test_sources for c in s.find_cases(self.hparams.root)],
        }
        if self.hparams.val_source:
            cases["val"] = list(self._val_source.find_cases(self.hparams.root))
            if not cases["val"]:
                where = self._val_source.locate(self.hparams.root)
                raise DataError(f"data.val_source {self.hparams.val_source}: no cases in {where}")
        elif self.hparams.val_cases:
            everything = {c.case_id: c for sp in [*target, *extra] for ids in sp.values() for c in ids}
            unknown = [c for c in self.hparams.val_cases if c not in everything]
            if unknown:
                raise DataError(
                    f"data.val_cases: no such case(s) in {self.hparams.root}: {', '.join(unknown)}"
                )
            cases["val"] = [everything[c] for c in self.hparams.val_cases]
        return cases

    def _load(self, cache: PreprocessedCache, case: Case) -> dict:
        """A reference to the case's cache file (preprocessed first if needed), read when drawn."""
        path = cache.ensure(case, self.sources[case.source].label_values)
        return {"cached": str(path), "label_shift": self.label_shift(case)}

    @property
    def cache_dir(self) -> str:
        return self.hparams.cache_dir or str(default_cache_dir(self.hparams.root))

    def fingerprint(self) -> dict:
        """Fingerprint of the training cases of ``dataset`` (computed once, stored beside the cache)."""
        names = [s.name for s in self.datasets]
        cases = self.cases or self.resolve_cases()
        train = [c for c in cases["train"] if c.source in names] or cases["train"]
        return dataset_fingerprint("+".join(sorted({c.source for c in train})), train, self.cache_dir)

    @property
    def target_spacing(self) -> tuple[float, float, float]:
        """The configured spacing, or nnU-Net's choice from the fingerprint when the config leaves it unset
        (the median; for anisotropic data the coarse axis's 10th percentile: ``fingerprint.target_spacing``)."""
        if self.hparams.target_spacing is not None:
            return tuple(float(v) for v in self.hparams.target_spacing)
        if self._spacing is None:
            fp = self.fingerprint()
            self._spacing = tuple(round(v, 3) for v in fp["target_spacing"])
            rule = "median" if fp["target_spacing"] == fp["median_spacing"] else "anisotropic (nnU-Net rule)"
            rank_zero_info(
                f"[data] target spacing {self._spacing} mm: {rule} spacing of {fp['source']} "
                f"({fp['n_cases']} training cases, fingerprint in {self.cache_dir}/fingerprints)"
            )
        return self._spacing

    def setup(self, stage: str | None = None) -> None:
        """Validate every case this stage needs (all problems in one error), then preprocess them."""
        self.cases = self.resolve_cases()
        # every case the run will read, before the first step: a fit also checks the test cases it is tested
        # on afterwards. Headers here; voxels too for test cases, which are read from disk (training cases
        # get their deep check when first cached); remembered per file identity, so nothing is read twice.
        needed = {
            "fit": ("train", "val", "test"),
            "validate": ("val",),
            "test": ("test",),
            "predict": ("test",),
        }
        keys = needed.get(stage, ("train", "val", "test"))
        deep = set(self.cases["test"]) if "test" in keys else set()
        problems = []
        for c in sorted({c for k in keys for c in self.cases[k]}, key=lambda c: (c.source, c.case_id)):
            values = self.sources[c.source].label_values
            problems += inspect_pair_once(c.image, c.label, values, deep=c in deep)[1]
        if problems:
            raise DataError(
                f"{len(problems)} problem(s) in the data of this run (run `transferbench data check` for a "
                "full report):\n" + "\n".join(f"  - {path}: {msg}" for path, msg in sorted(problems))
            )
        cache = PreprocessedCache(self.cache_dir, self.target_spacing)
        if stage in (None, "fit"):
            self._train = self._load_all(cache, self.cases["train"])
            self._train_weights = self.sampling_weights(self.cases["train"])
        if stage in (None, "fit", "validate"):  # whole volumes as the network sees them, read when drawn
            self._val = Dataset(
                self._load_all(cache, self.cases["val"]),
                transform=LoadCached(self.intensity, self.hparams.images_only),
            )

    @property
    def intensity(self) -> dict[str, float] | None:
        """The ``nnunet`` pipeline's CT normalisation (foreground HU statistics of the training cases, from
        the fingerprint, or as restored from a checkpoint); None for the ``default`` pipeline."""
        if self.hparams.pipeline != "nnunet":
            return None
        if self._intensity is None:
            self._intensity = nnunet.intensity_properties(self.fingerprint())
            rank_zero_info(f"[data] nnU-Net CT normalisation (HU): {self._intensity}")
        return self._intensity

    def state_dict(self) -> dict:
        """Saved in checkpoints: what a later prediction must preprocess with (the spacing and intensities
        chosen from this run's training data)."""
        fixed = self.hparams.target_spacing
        return {"target_spacing": self._spacing or fixed, "intensity_properties": self._intensity}

    def load_state_dict(self, state: dict) -> None:
        if state.get("target_spacing") is not None and self.hparams.target_spacing is None:
            self._spacing = tuple(state["target_spacing"])
        self._intensity = state.get("intensity_properties") or self._intensity

    def _load_all(self, cache: PreprocessedCache, cases: list[Case]) -> list[dict]:
        """Preprocess (or read from the cache) every case; every failing case is named in one error."""
        items, errors = [], []
        for c in cases:
            try:
                items.append(self._load(cache, c))
            except DataError as err:
                errors.append(f"  - case {c.case_id} ({c.source}): {err}")
        if errors:
            raise DataError(f"{len(errors)} case(s) cannot be used:\n" + "\n".join(errors))
        return items

    def sampling_weights(self, cases: list[Case]) -> list[float]:
        """Per-case draw probability: uniform, or ``source_fraction`` of the mass on the extra sources."""
        fraction = self.hparams.source_fraction
        extra = {s.name for s in self.extra_sources}
        is_extra = [c.source in extra for c in cases]
        n_extra = sum(is_extra)
        if fraction is None or n_extra in (0, len(cases)):
            return [1.0 / len(cases)] * len(cases) if cases else []
        return [fraction / n_extra if e else (1 - fraction) / (len(cases) - n_extra) for e in is_extra]

    def train_sampler(self, dataset) -> Sampler:
        """Draws seeded by (run seed, epoch): a resumed run draws what the uninterrupted one drew."""
        hp = self.hparams
        n = hp.iterations_per_epoch * hp.batch_size
        weights = self._train_weights if hp.source_fraction is not None else None
        return EpochSampler(dataset, n, torch.initial_seed(), weights)  # the run's seed_everything

    def train_dataloader(self) -> DataLoader:
        """MONAI's DataLoader: it seeds the random transforms from torch's seed (also with 0 workers), so a
        run is reproducible from ``seed_everything``; torch's own loader leaves them on OS entropy."""
        hp = self.hparams
        if len(hp.patch_size) == 2:
            return self._slice_dataloader()
        args = (hp.patch_size, hp.samples_per_volume, 0.0 if hp.images_only else hp.pos_fraction)
        props = self.intensity
        transform = nnunet.nnunet_train_transforms(*args, props) if props else train_patch_transforms(*args)
        # read from the cache first; one flat Compose, so the random transforms draw the seeds they always did
        transform.transforms = (LoadCached(images_only=hp.images_only), *transform.transforms)
        ds = Dataset(self._train, transform=transform)
        sampler = self.train_sampler(ds)
        return DataLoader(
            ds,
            batch_size=hp.batch_size,
            sampler=sampler,
            num_workers=hp.num_workers,
            collate_fn=list_data_collate,
            persistent_workers=hp.num_workers > 0,
            drop_last=True,
        )

    def _slice_dataloader(self) -> DataLoader:
        """Batches of slices over all training volumes, each batch once per scale (``data.slices``)."""
        hp = self.hparams
        return slice_dataloader(
            SliceDataset([LoadCached()(ref) for ref in self._train], hp.patch_size, self.slice_sizes),
            hp.batch_size,
            hp.iterations_per_epoch // len(hp.scales),
            len(hp.scales),
            hp.pos_fraction,
            self._train_weights if hp.source_fraction is not None else None,
            hp.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._val, batch_size=1, shuffle=False, num_workers=0, collate_fn=list_data_collate)

    def test_items(self) -> list[dict]:
        return [
            {
                "image": str(c.image),
                "label_path": str(c.label),
                "case_id": c.case_id,
                "label_shift": self.label_shift(c),
                "test_set": c.source,
            }
            for c in self.cases["test"]
        ]

    def inference_transform(self):
        """Invertible preprocessing of the image alone; test predictions are mapped back with it.

        One instance per DataModule: MONAI inverts only with the very transform objects that were applied.
        """
        if self._inference_transform is None:
            self._inference_transform = inference_transforms(self.target_spacing, self.intensity)
        return self._inference_transform

    def test_dataloader(self) -> DataLoader:
        ds = Dataset(self.test_items(), transform=self.inference_transform())
        return DataLoader(
            ds,
            batch_size=1,
            shuffle=False,
            num_workers=self.hparams.num_workers,
            collate_fn=list_data_collate,
        )

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()
