"""SegmentationModule: trains any segmentation network on patches, scores whole volumes in 3D.

Validation runs MONAI sliding-window inference on the preprocessed volumes and logs the mean per-case
foreground Dice (``val/dice``). Testing predicts each test volume, maps the probabilities back to the
original image grid with MONAI's inverse transforms, and scores them against the label *as stored on disk*
with the spacing from its header (DSC, NSD at ``nsd_tolerance_mm``, HD95 in mm, volumes in ml), one row per
case and foreground class (``test_results`` / ``test_summary`` after testing).

The module writes no file: the callbacks in ``training.callbacks`` (added by the CLI) write the transfer
report, the per-case table, the test metrics and the predictions into the run folder.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from monai.data import decollate_batch
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from monai.transforms import Invertd
from pytorch_lightning.utilities import rank_zero_info
from torch import nn

from transferbench.data.io import load_nifti, read_array
from transferbench.evaluation.metrics import METRIC_COLUMNS, case_metrics, dice_score
from transferbench.models.base import SegmentationNet
from transferbench.strategies import KeyReport, create_strategy
from transferbench.strategies.transfer import keep_frozen_eval
from transferbench.training.losses import NormalisedDeepSupervisionLoss, deep_supervision_loss
from transferbench.training.pretext import METRIC as PRETEXT_METRIC
from transferbench.training.pretext import Kind, Pretext, restoration_checkpoint
from transferbench.training.schedules import optimisation


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in module.parameters())
    return sum(p.numel() for p in module.parameters() if p.requires_grad), total


def stored_grid_class_map(transform, image: torch.Tensor, probs: torch.Tensor) -> np.ndarray:
    """Class map of one volume's probabilities ``probs`` (C, ...) on the grid of its stored image:
    ``image`` is the preprocessed image (its applied operations) and ``transform`` the very objects that
    produced it (MONAI inverts only with those); probabilities are resampled back, then argmax."""
    inverter = Invertd(keys="pred", transform=transform, orig_keys="image", nearest_interp=False)
    return inverter({"image": image, "pred": probs})["pred"].argmax(0).numpy().astype(np.uint8)


class SegmentationModule(pl.LightningModule):
    """Dice + cross-entropy training with deep supervision, nnU-Net's optimiser by default.

    Args:
        net: the network (``class_path`` in configs), e.g. ``transferbench.models.UNet3D``.
        optimizer: ``sgd`` (Nesterov, momentum 0.99, as nnU-Net), ``adam`` or ``adamw``.
        lr, weight_decay, momentum: optimiser settings.
        lr_schedule: ``poly`` (nnU-Net: (1 - step / total) ** 0.9), ``wsd`` (constant, then the poly decay over
            the last ``decay_fraction`` of the steps: the plateau rule reads the constant part), ``cosine``,
            ``constant`` or ``adjust_lr``
            (nCoVSegNet's ``adjust_lr``, per epoch: ``lr *= lr_decay_rate ** (epoch // lr_decay_epoch)`` on
            the *current* rate, epochs counted from 1; it compounds, so the rate holds for
            ``lr_decay_epoch - 1`` epochs and then falls by ``lr_decay_rate`` every epoch: with the authors'
            50 and 0.1 about 49 effective epochs).
        warmup_steps: the rate ramps linearly from lr / warmup_steps to lr over the first steps of a ``poly``,
            ``wsd`` or ``cosine`` schedule (0: none).
        roi_size: sliding-window size; the CLI links it to ``data.patch_size``.
        sw_batch_size, sw_overlap: sliding-window settings (Gaussian blending).
        val_sw_overlap: the windows' overlap when validating during training (None: ``sw_overlap``); the
            validation curve only has to show a trend (the plateau rule), and tiles without overlap cost
            about half (benchmarks (o)).
        nsd_tolerance_mm: NSD tolerance (3 mm for lesions, 1 mm for lungs in the benchmark).
        test_mirror_axes: test-time mirroring (nnU-Net: 0, 1, 2): the softmax averaged over the volume
            flipped along every subset of these spatial axes (8 passes for three axes), when testing and
            predicting; validation during training predicts once, as nnU-Net's.
        channels_last: a 3D network's weights and inputs in ``channels_last_3d`` memory (same results up to
            rounding; on CPU oneDNN's weight gradients run faster in that layout: benchmarks (h)).
        strategy: the transfer strategy ``{name: ..., **args, pretrained: path(s)}`` (``transferbench
            strategies``), or the ``Strategy`` itself (the CLI builds it once per run); default ``scratch``.
            It may replace ``net`` (``hybrid``); its pretrained weights are loaded and parts frozen when
            fitting starts (``transfer_reports``).
    """

    def __init__(
        self,
        net: SegmentationNet,
        optimizer: Literal["sgd", "adam", "adamw"] = "sgd",
        lr: float = 0.01,
        weight_decay: float = 3e-5,
        momentum: float = 0.99,
        lr_schedule: Literal["poly", "wsd", "cosine", "constant", "adjust_lr"] = "poly",
        poly_exponent: float = 0.9,
        decay_fraction: float = 0.2,
        warmup_steps: int = 0,
        lr_decay_epoch: int = 50,
        lr_decay_rate: float = 0.1,
        roi_size: tuple[int, ...] = (64, 64, 32),
        sw_batch_size: int = 2,
        sw_overlap: float = 0.5,
        val_sw_overlap: float | None = None,
        nsd_tolerance_mm: float = 3.0,
        test_mirror_axes: tuple[int, ...] | None = None,
        channels_last: bool = False,
        strategy: dict | None = None,
        pretext: Kind | None = None,
    ) -> None:
        """``pretext``: train self-supervised (``genesis`` or ``mae``: ``training.pretext``), labels unread."""
        super().__init__()
        self.save_hyperparameters(ignore=["net", "strategy"])
        self.strategy = create_strategy(strategy)
        self.hparams["strategy"] = self.strategy.config()  # plain values: checkpoints load weights_only
        self.net = self.strategy.build_net(net)
        self.transfer_reports: list[KeyReport] | None = None
        self.parameter_counts: tuple[int, int] = count_parameters(
            self.net
        )  # (trainable, total), after freezing
        self.spatial_dims = int(getattr(self.net, "spatial_dims", 3))
        self._layout = (
            torch.channels_last_3d if channels_last and self.spatial_dims == 3 else torch.contiguous_format
        )
        self.net.to(memory_format=self._layout)  # in place (a network is contiguous as built)
        self._check_geometry()
        if self.spatial_dims == 2:  # binary, one logit map per output (nCoVSegNet)
            self.criterion = deep_supervision_loss
        else:
            self.criterion = NormalisedDeepSupervisionLoss(
                DiceCELoss(to_onehot_y=True, softmax=True, batch=True, include_background=False),
                weight_mode="exp",
            )
        mean, std = getattr(self.net, "input_mean", None), getattr(self.net, "input_std", None)
        self._normalise = mean is not None
        if self._normalise:  # what a pretrained backbone expects (declared by the network)
            shape = (1, len(mean)) + (1,) * self.spatial_dims
            self.register_buffer("_mean", torch.tensor(mean).view(shape), persistent=False)
            self.register_buffer("_std", torch.tensor(std).view(shape), persistent=False)
        self.pretext = Pretext(pretext) if pretext else None
        self._val_dice: list[float] = []
        # epochs that end before a ``wsd`` decay begins: the part of the curve the plateau rule reads
        self.plateau_epochs: int | None = None
        self._test_rows: list[dict] = []
        self.test_results: pd.DataFrame | None = None
        self.test_summary: dict[str, Any] | None = None

    # ----------------------------------------------------------------- setup
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        classes = getattr(dm, "num_classes", None)
        out = None if self.spatial_dims == 2 else getattr(self.net, "num_classes", None)
        if classes is not None and out is not None and classes != out and self.pretext is None:
            raise ValueError(
                f"the network predicts {out} classes but the dataset has {classes} (background included)"
            )
        if self.spatial_dims == 2 and classes not in (None, 2):
            raise ValueError(f"a 2D binary network needs one lesion class; the dataset has {classes - 1}")

        if stage == "fit" and self.transfer_reports is None:
            self.transfer_reports = self.strategy.initialise(self.net)
            self._record_transfer()

    def _check_geometry(self) -> None:
        """Patch / slice size against the network, when the model is built (before any data or training)."""
        roi = tuple(self.hparams.roi_size)
        if len(roi) != self.spatial_dims:
            raise ValueError(
                f"{type(self.net).__name__} is {self.spatial_dims}D but data.patch_size is {roi}: give "
                f"{self.spatial_dims} values"
            )
        divisor = tuple(getattr(self.net, "divisor", (1,) * self.spatial_dims))
        if any(r % d for r, d in zip(roi, divisor)):
            raise ValueError(
                f"patch/roi size {roi} must be divisible by the network's total stride {tuple(divisor)} on every axis"
            )

    def _record_transfer(self) -> None:
        """Key report and parameter counts: printed and logged as hyperparameters (the ``TransferReport``
        callback writes them to the run folder)."""
        trainable, total = self.parameter_counts = count_parameters(self.net)
        reports = self.transfer_reports or []
        for r in reports:
            rank_zero_info(r.summary())
        rank_zero_info(
            f"[transfer] strategy {self.strategy.name}: {total:,} parameters, {trainable:,} trainable, "
            f"{total - trainable:,} frozen"
        )
        for logger in self.loggers:
            logger.log_hyperparams(
                {
                    "strategy/name": self.strategy.name,
                    "strategy/sources": ",".join(self.strategy.sources),
                    "transfer/loaded_tensors": sum(len(r.loaded) for r in reports),
                    "transfer/loaded_params": sum(r.loaded_params for r in reports),
                    "params/trainable": trainable,
                    "params/total": total,
                }
            )

    def train(self, mode: bool = True) -> SegmentationModule:
        """Lightning switches the module to train mode each epoch; frozen parts stay in eval mode."""
        super().train(mode)
        keep_frozen_eval(self.net)
        return self

    # --------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.outputs(x)
        return out[0] if isinstance(out, (list, tuple)) else out

    def outputs(self, x: torch.Tensor):
        """The network's outputs (every deep-supervision head) on ``x``, in its memory layout (``channels_last``)."""
        return self.net(x.contiguous(memory_format=self._layout) if x.dim() == 5 else x)

    def network_input(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] CT to what the network expects: a pretrained backbone's channels and normalisation."""
        if self._normalise:
            repeat = (1, self._mean.shape[1]) + (1,) * self.spatial_dims
            return (x.repeat(*repeat) - self._mean.to(x)) / self._std.to(x)
        return x

    def predict_logits(self, image: torch.Tensor, overlap: float | None = None) -> torch.Tensor:
        """Two-class logits for a (B, 1, X, Y, Z) volume; 2D networks predict it slice by slice. ``overlap``:
        of the sliding windows, ``sw_overlap`` when None."""
        hp = self.hparams
        if self.spatial_dims == 2:
            return self._slice_logits(image)
        overlap = hp.sw_overlap if overlap is None else overlap
        return sliding_window_inference(
            image, tuple(hp.roi_size), hp.sw_batch_size, self, overlap=overlap, mode="gaussian"
        )

    def _slice_logits(self, image: torch.Tensor) -> torch.Tensor:
        """Every axial slice resized to ``roi_size``, predicted, resized back and stacked in slice order;
        returned as two-class logits (0, l) so that softmax gives (1 - sigmoid(l), sigmoid(l))."""
        size = tuple(self.hparams.roi_size)
        volumes = []
        for vol in image:  # (1, X, Y, Z)
            slices = vol.permute(3, 0, 1, 2)  # (Z, 1, X, Y)
            parts = []
            for chunk in slices.split(max(1, self.hparams.sw_batch_size * 4)):
                x = F.interpolate(chunk, size=size, mode="bilinear", align_corners=False)
                out = self(self.network_input(x))
                parts.append(F.interpolate(out, size=vol.shape[1:3], mode="bilinear", align_corners=False))
            volumes.append(torch.cat(parts).permute(1, 2, 3, 0))  # (1, X, Y, Z)
        logit = torch.stack(volumes)
        return torch.cat([torch.zeros_like(logit), logit], dim=1)

    # -------------------------------------------------------------- training
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        image, label = batch["image"], batch["label"]
        if self.spatial_dims == 2:  # slices at one of the data's scales (``data.slices``)
            image = self.network_input(image)
        if self.pretext is not None:  # corruption drawn per (run seed, step): resumes draw the same
            loss = self.pretext.loss(self.net, image, torch.initial_seed() % 2**31 + self.global_step)
        else:
            out = self.outputs(image)
            loss = self.criterion(out if isinstance(out, (list, tuple)) else [out], label)
        self.log(
            "train/loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=batch["image"].shape[0],
        )
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        if self.pretext is not None:
            roi = tuple(self.hparams.roi_size)
            self._val_dice += [self.pretext.score(self.net, v[None], roi, batch_idx) for v in batch["image"]]
            return
        pred = self.predict_logits(batch["image"], self.hparams.val_sw_overlap).argmax(1)
        label = batch["label"][:, 0]
        for p, g in zip(pred, label):
            self._val_dice.append(dice_score(p > 0, g > 0))

    @staticmethod
    def _distributed() -> bool:
        return torch.distributed.is_available() and torch.distributed.is_initialized()

    def _gathered(self, items: list) -> list:
        """``items`` from every process (``trainer.devices > 1``): each rank scores only its share of the
        cases, and the Dice mean and the per-case table must cover them all."""
        if not self._distributed():
            return list(items)
        parts: list = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, list(items))
        return [x for part in parts for x in part]

    def on_validation_epoch_end(self) -> None:
        scores = [d for d in self._gathered(self._val_dice) if not math.isnan(d)]
        metric = PRETEXT_METRIC if self.pretext is not None else "val/dice"
        self.log(metric, float(np.mean(scores)) if scores else 0.0, prog_bar=True)
        self._val_dice.clear()

    # ------------------------------------------------------------------ test
    def _invert(self, image: torch.Tensor, probs: torch.Tensor) -> np.ndarray:
        """Class map on the original voxel grid of the stored image."""
        item = decollate_batch({"image": image.cpu(), "pred": probs.cpu()})[0]
        return stored_grid_class_map(
            self.trainer.datamodule.inference_transform(), item["image"], item["pred"]
        )

    def predict_probs(self, image: torch.Tensor) -> torch.Tensor:
        """Class probabilities of a (B, 1, X, Y, Z) volume, averaged over ``test_mirror_axes`` flips."""
        axes = tuple(self.hparams.test_mirror_axes or ())
        flips = [c for k in range(len(axes) + 1) for c in itertools.combinations(axes, k)]
        total = None
        for flip in flips:
            dims = [2 + a for a in flip]
            x = image.flip(dims) if dims else image
            p = torch.softmax(self.predict_logits(x), dim=1)
            p = p.flip(dims) if dims else p
            total = p if total is None else total + p
        return total / len(flips)

    def _predict_volume(self, batch: dict) -> tuple[np.ndarray, int]:
        """(class map on the stored image's grid, number of classes) for a batch of one volume."""
        probs = self.predict_probs(batch["image"])
        return self._invert(batch["image"], probs), probs.shape[1]

    def test_step(self, batch: dict, batch_idx: int) -> dict:
        """Scores one test volume; returns the prediction for the callbacks (``TestResultsWriter``)."""
        pred, n_classes = self._predict_volume(batch)
        label_path = batch["label_path"][0]
        label_img = load_nifti(label_path)
        gt = read_array(label_path, label_img)
        shift = int(batch["label_shift"][0]) if "label_shift" in batch else 0
        classes = range(1, n_classes) if not shift else [1 + shift]
        if shift:  # a pooled source with per-source classes: its lesion is class 1 + shift
            gt = np.where(gt > 0, gt + shift, 0)
        spacing = label_img.header.get_zooms()[:3]
        if pred.shape != gt.shape:
            raise RuntimeError(f"{label_path}: inverted prediction has shape {pred.shape}, label {gt.shape}")
        case_id = batch["case_id"][0]
        for cls in classes:
            row = case_metrics(pred == cls, gt == cls, spacing, self.hparams.nsd_tolerance_mm)
            test_set = batch["test_set"][0] if "test_set" in batch else ""
            self._test_rows.append({"case": case_id, "test_set": test_set, "class": cls, **row})
        return {"case": case_id, "prediction": pred, "affine": label_img.affine}

    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        """A volume's class map on its original grid, with the affine to store it (``PredictionWriter``)."""
        pred, _ = self._predict_volume(batch)
        affine = load_nifti(batch["image"].meta["filename_or_obj"][0]).affine
        return {"case": batch["case_id"][0], "prediction": pred, "affine": affine}

    def on_test_epoch_end(self) -> None:
        """Per-case table and summary (``test_results``, ``test_summary``); means logged per test set."""
        nsd = f"nsd_{self.hparams.nsd_tolerance_mm:g}mm"
        rows, seen = [], set()
        for row in self._gathered(self._test_rows):
            key = (row["test_set"], row["case"], row["class"])
            if key not in seen:  # a distributed sampler pads its last batch with repeated cases: once each
                seen.add(key)
                rows.append(row)
        if self._distributed():  # gathered from several ranks: a deterministic order
            rows.sort(key=lambda r: (r["test_set"], r["case"], r["class"]))
        df = pd.DataFrame(
            rows,
            columns=["case", "test_set", "class", *METRIC_COLUMNS],
        ).rename(columns={"nsd": nsd})
        self._test_rows.clear()
        sets = list(dict.fromkeys(df["test_set"]))  # the target's test cases come first, then extra test sets
        summary = {}
        for i, name in enumerate(sets or [""]):
            part = df[df["test_set"] == name] if sets else df
            prefix = "test" if i == 0 else f"test_{name}"
            for c in ["dsc", nsd, "hd95_mm"]:
                mean = float(part[c].mean()) if part[c].notna().any() else math.nan
                summary[f"{prefix}/{c}_mean"], summary[f"{prefix}/{c}_std"] = mean, float(part[c].std())
                self.log(f"{prefix}/{c}", mean, sync_dist=False)
            summary[f"{prefix}/cases"] = int(part["case"].nunique())
            summary[f"{prefix}/undefined_cases"] = int(part["dsc"].isna().sum())
            # HD95 is undefined when either mask is empty (metrics module): left out of its mean, counted
            summary[f"{prefix}/hd95_undefined"] = int(part["hd95_mm"].isna().sum())
        self.test_results, self.test_summary = df, summary

    def configure_callbacks(self) -> list:
        """A pretext run's checkpoint tracks the restoration score (there is no Dice to track)."""
        if self.pretext is None or self._trainer is None:
            return []
        return [restoration_checkpoint(self.trainer.checkpoint_callback)]

    # ------------------------------------------------------------- optimiser
    def configure_optimizers(self):
        params = [
            {"params": g["params"], "lr": self.hparams.lr * g["lr_scale"]}
            for g in self.strategy.param_groups(self.net)
            if g["params"]
        ]
        config, self.plateau_epochs = optimisation(params, self.hparams, self._trainer)
        return config
