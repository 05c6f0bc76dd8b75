"""transferbench: transfer-learning strategies for COVID-19 lung infection segmentation in CT."""

__version__ = "0.1.0"
