"""LightningDataModule for 3D CT segmentation on any registered source, with the benchmark's fixed folds."""

from __future__ import annotations

import pytorch_lightning as pl
from monai.data import Dataset, list_data_collate
from torch.utils.data import DataLoader, RandomSampler

from transferbench.data.cache import PreprocessedCache, default_cache_dir
from transferbench.data.io import DataError, check_pair
from transferbench.data.sources import Case, create_source
from transferbench.data.splits import covid_fold, source_split
from transferbench.data.synthetic import is_prepared, prepare_synthetic
from transferbench.data.transforms import preprocess_transforms, train_patch_transforms

TARGET = "covid19_ct_seg"


class CTSegDataModule(pl.LightningDataModule):
    """3D patches for training, whole preprocessed volumes for validation, original files for testing.

    Args:
        root: data root holding the dataset folder (or the dataset folder itself).
        dataset: registered source name (``transferbench data sources``); ``covid19_ct_seg`` uses the
            benchmark's fixed folds, other sources their benchmark train/val split.
        label_mode: for ``covid19_ct_seg``: ``infection`` (default), ``lungs`` or ``lungs_infection``.
        fold, fold_scheme: the COVID-19-CT-Seg fold (``folds_4_train``: Task 1, 4 training / 16 test
            cases; ``folds_16_train``: 16 training / 4 test).
        val_cases: case ids to validate on. Default for the COVID-19 target: the fold's training cases
            (the fold has no spare case; validation then monitors convergence and is *not* used to pick
            the tested checkpoint, which is the last one). For a source: its split's val cases.
        target_spacing: resampling spacing in mm, (x, y, z) in RAS.
        patch_size: training patch and sliding-window size (x, y, z) in voxels.
        batch_size: volumes per batch; each gives ``samples_per_volume`` patches.
        pos_fraction: share of patches centred on a lesion voxel.
        iterations_per_epoch: batches per epoch (nnU-Net style fixed-length epochs).
        prepare_synthetic: generate the synthetic benchmark into ``root`` if it is not there yet.
    """

    def __init__(
        self,
        root: str = "data/synthetic",
        dataset: str = TARGET,
        label_mode: str = "infection",
        fold: int = 0,
        fold_scheme: str = "folds_4_train",
        val_cases: list[str] | None = None,
        target_spacing: tuple[float, float, float] = (4.0, 4.0, 6.0),
        patch_size: tuple[int, int, int] = (64, 64, 32),
        batch_size: int = 1,
        samples_per_volume: int = 2,
        pos_fraction: float = 0.5,
        iterations_per_epoch: int = 25,
        num_workers: int = 0,
        cache_dir: str | None = None,
        prepare_synthetic: bool = False,
        synthetic_seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        kwargs = {"label_mode": label_mode} if dataset == TARGET else {}
        self.source = create_source(dataset, **kwargs)
        self.cases: dict[str, list[Case]] = {}
        self._train: list[dict] = []
        self._val: list[dict] = []
        self._inference_transform = None

    @property
    def num_classes(self) -> int:
        return self.source.num_classes

    def prepare_data(self) -> None:
        if self.hparams.prepare_synthetic and not is_prepared(self.hparams.root):
            prepare_synthetic(self.hparams.root, seed=self.hparams.synthetic_seed)

    def resolve_cases(self) -> dict[str, list[Case]]:
        """Train / val / test cases on disk; any listed case that is missing is an error naming it."""
        found = {c.case_id: c for c in self.source.find_cases(self.hparams.root)}
        if self.source.name == TARGET:
            split = covid_fold(self.hparams.fold, self.hparams.fold_scheme)
            split["val"] = list(self.hparams.val_cases or split["train"])
        else:
            split = source_split(self.source.name, sorted(found))
            if self.hparams.val_cases:
                split["val"] = list(self.hparams.val_cases)
            split["test"] = list(split["val"])
        missing = sorted({c for ids in split.values() for c in ids} - set(found))
        if missing:
            where = self.source.locate(self.hparams.root)
            raise DataError(f"{where}: {len(missing)} case(s) of the split are missing: {', '.join(missing)}")
        return {k: [found[c] for c in ids] for k, ids in split.items()}

    def setup(self, stage: str | None = None) -> None:
        """Validate and preprocess every case this stage needs, before any training step."""
        self.cases = self.resolve_cases()
        cache = PreprocessedCache(
            self.hparams.cache_dir or default_cache_dir(self.hparams.root), self.hparams.target_spacing
        )
        values = self.source.label_values
        if stage in (None, "fit"):
            self._train = [cache.get(c, values) for c in self.cases["train"]]
        if stage in (None, "fit", "validate"):
            self._val = [cache.get(c, values) for c in self.cases["val"]]
        if stage in (None, "test", "predict"):
            for c in self.cases["test"]:
                check_pair(c.image, c.label, values)

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        ds = Dataset(
            self._train,
            transform=train_patch_transforms(hp.patch_size, hp.samples_per_volume, hp.pos_fraction),
        )
        sampler = RandomSampler(ds, replacement=True, num_samples=hp.iterations_per_epoch * hp.batch_size)
        return DataLoader(
            ds,
            batch_size=hp.batch_size,
            sampler=sampler,
            num_workers=hp.num_workers,
            collate_fn=list_data_collate,
            persistent_workers=hp.num_workers > 0,
            drop_last=True,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._val, batch_size=1, shuffle=False, num_workers=0, collate_fn=list_data_collate)

    def test_items(self) -> list[dict]:
        return [
            {"image": str(c.image), "label_path": str(c.label), "case_id": c.case_id}
            for c in self.cases["test"]
        ]

    def inference_transform(self):
        """Invertible preprocessing of the image alone; test predictions are mapped back with it.

        One instance per DataModule: MONAI inverts only with the very transform objects that were applied.
        """
        if self._inference_transform is None:
            self._inference_transform = preprocess_transforms(self.hparams.target_spacing, keys=("image",))
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
