"""Data: dataset sources in their real layouts, the synthetic benchmark, preprocessing, DataModules."""

from transferbench.data.sources import Case, create_source, list_sources, register_source

__all__ = ["Case", "create_source", "list_sources", "register_source"]
