"""timm-style model registry: ``@register_model`` on a builder, ``create_model(name, **kwargs)``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable:
    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    return sorted(_MODELS)


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return _MODELS[name]


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; unset (None) arguments fall back to the builder's defaults."""
    return model_entrypoint(name)(**{k: v for k, v in kwargs.items() if v is not None})


def _describe(fn: Callable) -> str:
    return (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""


def model_descriptions() -> dict[str, str]:
    return {name: _describe(fn) for name, fn in sorted(_MODELS.items())}


@register_model("unet3d")
def unet3d(**kwargs) -> nn.Module:
    """nnU-Net style 3D U-Net (presets: benchmark, cpu_small, tiny)."""
    from transferbench.models.unet3d import UNet3D

    return UNet3D(**kwargs)


@register_model("ncovsegnet")
def ncovsegnet(**kwargs) -> nn.Module:
    """nCoVSegNet 2D: ECA-ResNet-50, GCA, DAF (width / layers options for CPU runs)."""
    from transferbench.models.ncovsegnet import NCoVSegNet

    return NCoVSegNet(**kwargs)
