"""Networks (plain ``nn.Module``s declaring the ``SegmentationNet`` contract); ``training`` trains them."""

from transferbench.models.base import SegmentationNet
from transferbench.models.hybrid import HybridUNet3D
from transferbench.models.ncovsegnet import NCoVSegNet
from transferbench.models.registry import MODELS, create_model, list_models, register_model
from transferbench.models.unet3d import UNet3D

__all__ = [
    "MODELS",
    "HybridUNet3D",
    "NCoVSegNet",
    "SegmentationNet",
    "UNet3D",
    "create_model",
    "list_models",
    "register_model",
]
