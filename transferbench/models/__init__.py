"""Networks (plain ``nn.Module``s); the LightningModule that trains them lives in ``training``."""

from transferbench.models.ncovsegnet import NCoVSegNet
from transferbench.models.registry import create_model, list_models, model_entrypoint, register_model
from transferbench.models.unet3d import UNet3D

__all__ = ["NCoVSegNet", "UNet3D", "create_model", "list_models", "model_entrypoint", "register_model"]
