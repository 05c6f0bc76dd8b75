"""Generic tests of every registered dataset source (a new ``@register_source`` gets them automatically)."""

from __future__ import annotations

import pytest

from transferbench.data.sources import SOURCES, create_source
from transferbench.errors import DataError


@pytest.mark.parametrize("name", SOURCES.names())
def test_declares_its_layout(name):
    cls = SOURCES.get(name)
    assert cls.name == name and cls.dirname and cls.description and cls.accepted
    assert cls.layout_help().startswith("Expected layout: ") and len(cls.layout_help()) > 30
    assert create_source(name).num_classes == len(cls.label_values) >= 2


@pytest.mark.parametrize("name", SOURCES.names())
def test_wrong_folder_is_one_error_naming_the_source_and_layout(name, tmp_path):
    (tmp_path / "something_else").mkdir()
    with pytest.raises(DataError, match=rf"no {name} cases found\. Expected layout: .*something_else"):
        create_source(name).find_cases(tmp_path)


@pytest.mark.parametrize("name", SOURCES.names())
def test_reads_the_synthetic_benchmark_in_its_own_layout(name, synthetic_root):
    source = create_source(name)
    if not (synthetic_root / source.dirname).is_dir():
        pytest.skip(f"the synthetic benchmark has no {name} domain (an extra test set only)")
    cases = source.find_cases(synthetic_root)
    assert cases and all(c.image.is_file() and c.source == name for c in cases)
    # a source unlabelled by nature reads images only; every other case comes with its mask
    assert all((c.label is None) if not source.labelled else c.label.is_file() for c in cases)
