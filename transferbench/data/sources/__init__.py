"""Registered dataset sources, one module each; importing this package registers them all."""

from transferbench.data.sources import (  # noqa: F401  (registration side effects)
    controls,
    covid19_ct_seg,
    heldout,
    lidc_idri,
    mosmed,
    msd_lung_tumor,
    nsclc_pleural_effusion,
    structseg_gtv,
    unlabelled,
)
from transferbench.data.sources.base import (
    SOURCES,
    Case,
    Source,
    create_source,
    list_sources,
    register_source,
    source_class,
)

__all__ = ["SOURCES", "Case", "Source", "create_source", "list_sources", "register_source", "source_class"]
