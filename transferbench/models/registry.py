"""The model registry (the package's one mechanism): ``@register_model(name)`` on a ``SegmentationNet``.

Configs may name a network by its registry name (``model.net: unet3d`` or ``class_path: unet3d`` with
``init_args``); :func:`resolve_model_names` turns it into the import path LightningCLI instantiates.
"""

from __future__ import annotations

import importlib
from typing import Any

from transferbench.errors import RegistryError
from transferbench.models.base import SegmentationNet
from transferbench.registry import Registry

MODELS: Registry[type[SegmentationNet]] = Registry("model")
PACKAGE = "transferbench.models"


def register_model(name: str):
    return MODELS.register(name)


def list_models() -> list[str]:
    return MODELS.names()


def create_model(name: str, **kwargs: Any) -> SegmentationNet:
    """Build a registered model; unset (None) arguments fall back to the class defaults."""
    return MODELS.create(name, **kwargs)


def class_path(cls: type) -> str:
    """The public import path of a network class: the package's own networks are exported by
    ``transferbench.models`` (``transferbench.models.UNet3D``, what the packaged configs write); any other
    registered class is named by its defining module."""
    if cls.__module__.startswith(f"{PACKAGE}."):
        return f"{PACKAGE}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def canonical_model_names(config: dict) -> dict:
    """``config`` with ``model.net`` naming its class by its public path, however the config named it (a
    registry name, the defining module): the same network gives the same run identity."""
    config = resolve_model_names(config)
    net = (config.get("model") or {}).get("net")
    if not isinstance(net, dict) or "class_path" not in net:
        return config
    try:
        path = class_path(network_class(config))
    except RegistryError:
        return config  # reported where the network is built
    return {**config, "model": {**config["model"], "net": {**net, "class_path": path}}}


def resolve_model_names(config: dict) -> dict:
    """``config`` with a registry name in ``model.net`` replaced by the class's import path."""
    net = (config.get("model") or {}).get("net")
    if isinstance(net, str):
        net = {"class_path": net}
    if not isinstance(net, dict) or "." in str(net.get("class_path", ".")):
        return config
    full = class_path(MODELS.get(str(net["class_path"])))
    return {**config, "model": {**config["model"], "net": {**net, "class_path": full}}}


def network_class(config: dict) -> type:
    """The network class a config's ``model.net`` names (registry name or import path)."""
    net = (resolve_model_names(config).get("model") or {}).get("net") or {}
    path = net.get("class_path") if isinstance(net, dict) else None
    if not path:
        raise RegistryError("the config has no model.net.class_path")
    module, _, attr = str(path).rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        raise RegistryError(
            f"unknown network class {path!r}; registered models: {', '.join(list_models())}"
        ) from None
