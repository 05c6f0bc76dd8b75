"""transferbench: transfer-learning strategies for COVID-19 lung infection segmentation in CT."""

from importlib.metadata import PackageNotFoundError, version

try:  # one source of the version: pyproject.toml, through the installed package's metadata
    __version__ = version("transferbench")
except PackageNotFoundError:  # a source tree on sys.path without installing it
    __version__ = "0+unknown"
