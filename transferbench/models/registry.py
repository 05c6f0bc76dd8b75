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


def registered_paths() -> dict[str, type]:
    """Every import path and registry name that names a registered network, to its class."""
    out: dict[str, type] = {}
    for name in list_models():
        cls = MODELS.get(name)
        out[name] = out[class_path(cls)] = out[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return out


def network_class(config: dict, trusted: bool = True) -> type:
    """The network class a config's ``model.net`` names (registry name or import path).

    A registered network is returned without importing anything. Any other path is imported only for a
    ``trusted`` config (one the user wrote: a config file is code, as in LightningCLI) and must be a
    ``SegmentationNet`` subclass; for an untrusted one (a run folder received from someone, a checkpoint)
    it is refused before any import, so a config cannot make the tool import or call arbitrary code.
    """
    net = (config.get("model") or {}).get("net") or {}
    path = net.get("class_path") if isinstance(net, dict) else net if isinstance(net, str) else None
    if not path:
        raise RegistryError("the config has no model.net.class_path")
    known = registered_paths()
    if str(path) in known:
        return known[str(path)]
    if not trusted:
        raise RegistryError(
            f"model.net.class_path {path!r} is not a registered network ({', '.join(list_models())}); a run "
            "folder may only name registered networks (nothing it names is imported). Register the class "
            "with @register_model and import its module first if it is your own"
        )
    module, _, attr = str(path).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        raise RegistryError(
            f"unknown network class {path!r}; registered models: {', '.join(list_models())}"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, SegmentationNet)):
        raise RegistryError(f"model.net.class_path {path!r} is not a SegmentationNet subclass; not built")
    return cls
