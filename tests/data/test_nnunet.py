"""nnU-Net v2's pipeline (``data.pipeline: nnunet``): numbers computed by hand, shapes, and the DataModule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from transferbench.data.fingerprint import target_spacing
from transferbench.data.nnunet import (
    NNUNetCTNormalized,
    ct_normalise,
    dummy_2d,
    initial_patch_size,
    intensity_properties,
    nnunet_train_transforms,
    rotation_ranges,
)
from transferbench.errors import DataError

PROPS = {"p00_5": -900.0, "p99_5": 100.0, "mean": -500.0, "std": 200.0}


def test_ct_normalisation_by_hand():
    """HU -1250, -900, -500, 100, 250 (stored windowed: (HU + 1250) / 1500) -> clip to [-900, 100] ->
    minus -500, over 200: -2, -2, 0, 3, 3."""
    hu = torch.tensor([-1250.0, -900.0, -500.0, 100.0, 250.0])
    out = ct_normalise((hu + 1250.0) / 1500.0, PROPS)
    assert torch.allclose(out, torch.tensor([-2.0, -2.0, 0.0, 3.0, 3.0]), atol=1e-5)
    d = NNUNetCTNormalized("image", PROPS)({"image": torch.full((1, 2, 2, 2), 0.5)})  # -500 HU
    assert torch.allclose(d["image"], torch.zeros(1, 2, 2, 2), atol=1e-6)


def test_intensity_properties_from_a_fingerprint():
    fp = {"source": "x", "foreground_intensity_hu": {**PROPS, "p50": -480.0}}
    assert intensity_properties(fp) == PROPS
    with pytest.raises(DataError, match="no foreground intensities"):
        intensity_properties({"source": "x", "foreground_intensity_hu": {**PROPS, "mean": math.nan}})


def test_target_spacing_rule_by_hand():
    # isotropic enough: the median per axis
    assert target_spacing([[0.7, 0.7, 1.0], [0.9, 0.9, 1.5], [0.8, 0.8, 1.2]], [[512, 512, 300]] * 3) == (
        pytest.approx([0.8, 0.8, 1.2])
    )
    # anisotropic (median z 5 > 3 x 0.7, 60 slices x 3 < 512): z takes its 10th percentile, 1 + 0.3 x 4 = 2.2
    spacings = [[0.7, 0.7, 5.0]] * 3 + [[0.7, 0.7, 1.0]]
    assert target_spacing(spacings, [[512, 512, 60]] * 4) == pytest.approx([0.7, 0.7, 2.2])
    # ... but never finer than the other axes: the percentile 0.5 becomes 0.7 + 1e-5
    spacings = [[0.7, 0.7, 5.0]] * 3 + [[0.7, 0.7, 0.5]] * 2
    assert target_spacing(spacings, [[512, 512, 60]] * 5)[2] == pytest.approx(0.70001)


def test_rotation_and_initial_patch():
    assert dummy_2d((192, 160, 56)) and not dummy_2d((64, 64, 32))  # 192 / 56 = 3.4 > 3
    assert rotation_ranges((192, 160, 56)) == (0.0, 0.0, math.pi)  # in plane only, +-180 degrees
    assert rotation_ranges((64, 64, 64)) == pytest.approx((math.pi / 6,) * 3)
    # in plane: the diagonal sqrt(192^2 + 160^2) = 249.93, over 0.85 = 294.03 -> 295; z: 56 / 0.85 = 65.9 -> 66
    assert initial_patch_size((192, 160, 56), rotation_ranges((192, 160, 56))) == (295, 295, 66)


def test_training_patches_have_the_patch_shape_and_binary_labels():
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.uniform(0.2, 0.8, (1, 40, 40, 20)).astype(np.float32))
    label = torch.zeros(1, 40, 40, 20)
    label[0, 10:25, 12:30, 5:15] = 1
    t = nnunet_train_transforms((32, 32, 16), samples_per_volume=6, pos_fraction=0.33, props=PROPS)
    t.set_random_state(0)
    out = t({"image": image, "label": label})
    assert len(out) == 6
    for p in out:
        assert tuple(p["image"].shape) == (1, 32, 32, 16) and tuple(p["label"].shape) == (1, 32, 32, 16)
        assert set(torch.unique(p["label"]).tolist()) <= {0.0, 1.0}
    with pytest.raises(DataError, match="intensity properties"):
        nnunet_train_transforms((32, 32, 16), 1)


def test_datamodule_nnunet_pipeline(synthetic_root):
    from transferbench.data.cache import PreprocessedCache
    from transferbench.data.datamodule import CTSegDataModule

    dm = CTSegDataModule(
        root=str(synthetic_root), target_spacing=(6.0, 6.0, 9.0), patch_size=(32, 32, 16), pipeline="nnunet",
        pos_fraction=0.33, samples_per_volume=1, batch_size=2, iterations_per_epoch=2,
    )  # fmt: skip
    dm.setup("fit")
    props = dm.state_dict()["intensity_properties"]
    assert props == intensity_properties(dm.fingerprint())
    raw = PreprocessedCache(dm.cache_dir, dm.target_spacing).get(dm.cases["val"][0], {0, 1})
    assert torch.allclose(dm._val[0]["image"], ct_normalise(raw["image"], props))
    batch = next(iter(dm.train_dataloader()))
    assert tuple(batch["image"].shape) == (2, 1, 32, 32, 16)
    names = [type(t).__name__ for t in dm.inference_transform().transforms]
    assert names[-1] == "NNUNetCTNormalized"
    with pytest.raises(DataError, match="3D pipeline"):
        CTSegDataModule(root=str(synthetic_root), patch_size=(64, 64), pipeline="nnunet", pos_fraction=None)


class _Flipless(nn.Module):
    """Logits (-x, x): exactly flip-equivariant, so mirrored test-time averaging must give the same map."""

    spatial_dims = 3

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1, 1))

    def forward(self, x):
        return self.conv(x)


def test_test_time_mirroring_flips_back():
    from transferbench.training.module import SegmentationModule

    x = torch.randn(1, 1, 8, 8, 4)
    plain = SegmentationModule(_Flipless(), roi_size=(8, 8, 4), sw_batch_size=1).eval()
    tta = SegmentationModule(
        _Flipless(), roi_size=(8, 8, 4), sw_batch_size=1, test_mirror_axes=(0, 1, 2)
    ).eval()
    with torch.no_grad():
        p, q = plain.predict_probs(x), tta.predict_probs(x)
    assert torch.allclose(p, q, atol=1e-6)
    assert not torch.allclose(q, q.flip(2), atol=1e-3)  # not a symmetrised map: every flip was undone
