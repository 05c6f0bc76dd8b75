"""The similarity table on two hand-made domains, whose values are computed by hand."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from transferbench.data.similarity import domain_stats, intersection, similarity_table


def write_case(folder, name, lesions):
    """A 20 mm cube of soft tissue (0 HU) with 3 x 3 x 3 voxel lesions ``(corner, HU)`` at 1 mm spacing."""
    image = np.zeros((20, 20, 20), dtype=np.int16)
    label = np.zeros((20, 20, 20), dtype=np.uint8)
    for (x, y, z), hu in lesions:
        image[x : x + 3, y : y + 3, z : z + 3] = hu
        label[x : x + 3, y : y + 3, z : z + 3] = 1
    paths = folder / f"{name}_img.nii.gz", folder / f"{name}_lab.nii.gz"
    nib.save(nib.Nifti1Image(image, np.eye(4)), paths[0])
    nib.save(nib.Nifti1Image(label, np.eye(4)), paths[1])
    return paths


def test_similarity_of_hand_made_domains(tmp_path):
    target = domain_stats([write_case(tmp_path, "t", [((0, 0, 0), -600)])])
    # the source: one lesion like the target's (same HU, same corner of the body box) and one solid lesion
    # in the opposite corner: half the lesion voxels match in intensity and in location
    source = domain_stats([write_case(tmp_path, "s", [((0, 0, 0), -600), ((15, 15, 15), 40)])])
    table = similarity_table(target, {"target": target, "source": source}).set_index("source")
    assert table.loc["target", ["intensity_overlap", "location_overlap", "size_overlap"]].tolist() == [
        1,
        1,
        1,
    ]
    s = table.loc["source"]
    assert s.intensity_overlap == pytest.approx(0.5) and s.location_overlap == pytest.approx(0.5)
    assert s.size_overlap == pytest.approx(1.0)  # every component is 27 voxels = 0.027 ml
    assert s.median_component_ml == pytest.approx(0.027) and s.median_case_ml == pytest.approx(0.054)
    assert s.elongation == pytest.approx(1.0) and s.n_cases == 1  # cubes: equal principal axes


def test_intersection_edge_cases():
    assert intersection([1, 0], [0, 1]) == 0.0 and intersection([2, 2], [1, 1]) == 1.0
    assert np.isnan(intersection([0, 0], [1, 1]))


def test_measured_on_the_synthetic_benchmark(synthetic_root):
    from transferbench.data.similarity import measure

    table = measure(synthetic_root).set_index("source")
    assert table.loc["covid19_ct_seg", "intensity_overlap"] == 1.0
    assert {"msd_lung_tumor", "structseg_gtv", "nsclc_pleural_effusion"} <= set(table.index)
    assert (table.drop("covid19_ct_seg").intensity_overlap < 1).all()
