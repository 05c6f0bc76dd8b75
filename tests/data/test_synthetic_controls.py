"""Generator v4: per-case anatomy and the three control sources (positive, negative, anatomy)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from transferbench.data.phantom import make_phantom
from transferbench.data.synthetic import CONTROL_DOMAINS, CONTROL_SCANNER, DOMAINS


def _contrast(image: np.ndarray, mask: np.ndarray, lungs: np.ndarray) -> float:
    """Mean HU inside the mask minus mean HU in the rest of the lungs: how lesion-like the mask's content is."""
    lung = lungs > 0
    inside = (mask > 0) & lung
    return float(image[inside].mean() - image[lung & ~inside].mean())


def test_anatomy_differs_across_cases():
    cases = [make_phantom("covid", DOMAINS["coronacases"].scanner, [0, 100 + i]) for i in range(8)]
    lung_ml = np.array([(c.lungs > 0).sum() * np.prod(c.spacing) / 1000 for c in cases])
    body_area = np.array(
        [((c.image > -500).sum(axis=(0, 1)) * c.spacing[0] * c.spacing[1]).max() for c in cases]
    )
    # the stated spread: lung volumes and body cross-sections vary by more than 8 % (coefficient of variation)
    assert lung_ml.std() / lung_ml.mean() > 0.08
    assert body_area.std() / body_area.mean() > 0.08
    assert len({c.image.shape[2] for c in cases}) >= 3  # slab length varies
    assert len({round(c.origin[2], 1) for c in cases}) == len(cases)  # and its position
    assert len({c.body for c in cases}) == len(cases)


def test_negative_control_masks_do_not_belong_to_their_images():
    pos, neg = [], []
    for i in range(6):
        ph = make_phantom("covid", CONTROL_SCANNER, [0, i], [1, i])
        pos.append(_contrast(ph.image, ph.lesion, ph.lungs))
        neg.append(_contrast(ph.image, ph.decoy, ph.lungs))
        assert ph.decoy.sum() > 0
    # ground glass is ~300 HU above aerated lung inside a real mask; a decoy mask holds ordinary lung
    assert np.mean(pos) > 250
    assert abs(np.mean(neg)) < 0.15 * np.mean(pos)


def test_decoy_leaves_the_image_unchanged():
    with_decoy = make_phantom("covid", CONTROL_SCANNER, [0, 3], [1, 3])
    without = make_phantom("covid", CONTROL_SCANNER, [0, 3])
    np.testing.assert_array_equal(with_decoy.image, without.image)
    np.testing.assert_array_equal(with_decoy.lesion, without.lesion)


def test_positive_control_lesions_match_the_target_intensity_range(synthetic_root):
    from transferbench.data.similarity import measure

    table = measure(synthetic_root).set_index("source")
    assert table.loc["positive_control", "intensity_overlap"] > 0.8
    assert table.loc["negative_control", "intensity_overlap"] < 0.3
    for name in ("msd_lung_tumor", "structseg_gtv", "nsclc_pleural_effusion"):
        assert table.loc[name, "intensity_overlap"] < table.loc["positive_control", "intensity_overlap"]
    target_hu = table.loc["covid19_ct_seg", "median_lesion_hu"]
    assert abs(table.loc["positive_control", "median_lesion_hu"] - target_hu) < 100


def test_controls_share_images_and_differ_in_labels(synthetic_root):
    from transferbench.data.sources import create_source

    cases = {n: create_source(n).find_cases(synthetic_root) for n in CONTROL_DOMAINS}
    assert len({tuple(c.case_id for c in v) for v in cases.values()}) == 1
    first = {n: v[0] for n, v in cases.items()}
    images = [np.asarray(nib.load(c.image).dataobj) for c in first.values()]
    assert all(np.array_equal(images[0], im) for im in images[1:])
    labels = {n: np.asarray(nib.load(c.label).dataobj) for n, c in first.items()}
    assert set(np.unique(labels["anatomy_control"])) == {0, 1}
    assert labels["anatomy_control"].sum() > 5 * labels["positive_control"].sum()
    assert not np.array_equal(labels["positive_control"], labels["negative_control"])


@pytest.mark.parametrize("name", sorted(CONTROL_DOMAINS))
def test_control_sources_are_registered_with_their_layout(name):
    from transferbench.data.sources import create_source, list_sources

    assert name in list_sources()
    assert "Synthetic_Controls" in create_source(name).layout_help()
