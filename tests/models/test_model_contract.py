"""Generic tests of every registered network (a new ``@register_model`` gets them automatically): the
declared transfer contract holds, the network runs at its declared geometry, configs can name it."""

from __future__ import annotations

import pytest
import torch

from transferbench.errors import RegistryError
from transferbench.models import MODELS
from transferbench.models.registry import network_class, resolve_model_names


@pytest.mark.parametrize("name", MODELS.names())
def test_part_prefixes_cover_every_parameter_once(name):
    cls = MODELS.get(name)
    net = cls(**cls.tiny_kwargs)
    parts = {"encoder": cls.key_to_encoder, "decoder": cls.key_to_decoder, "head": cls.key_to_head}
    assert all(isinstance(p, tuple) and p for p in parts.values()), parts
    for key, _ in net.named_parameters():
        owners = [part for part, prefixes in parts.items() if key.startswith(prefixes)]
        assert len(owners) == 1, f"{name}: {key} belongs to {owners or 'no part'}"


@pytest.mark.parametrize("name", MODELS.names())
def test_runs_at_its_declared_geometry(name):
    cls = MODELS.get(name)
    net = cls(**cls.tiny_kwargs).eval()
    assert len(net.divisor) == net.spatial_dims and all(isinstance(d, int) for d in net.divisor)
    if net.input_mean is not None:
        assert len(net.input_mean) == len(net.input_std) == net.in_channels
    size = [2 * d for d in net.divisor]
    with torch.no_grad():
        out = net(torch.rand(1, net.in_channels, *size))
    channels = 1 if out.shape[1] == 1 else net.num_classes  # a one-logit binary network, or one per class
    assert out.shape == (1, channels, *size)
    assert net.pretrained_backbone in (None, "resnet50")


@pytest.mark.parametrize("name", MODELS.names())
def test_configs_may_name_it_by_registry_name(name):
    cls = MODELS.get(name)
    for net in (name, {"class_path": name, "init_args": dict(cls.tiny_kwargs)}):
        config = resolve_model_names({"model": {"net": net, "lr": 0.1}})
        assert config["model"]["net"]["class_path"] == f"transferbench.models.{cls.__name__}"
        assert config["model"]["lr"] == 0.1 and network_class(config) is cls


@pytest.mark.parametrize("name", MODELS.names())
def test_the_package_exports_its_networks(name):
    import transferbench.models

    cls = MODELS.get(name)
    assert getattr(transferbench.models, cls.__name__) is cls  # the public class path configs use


def test_unknown_network_name_lists_the_registered_ones():
    with pytest.raises(RegistryError, match="unknown model 'unet2d'; registered: .*unet3d"):
        resolve_model_names({"model": {"net": "unet2d"}})
    with pytest.raises(RegistryError, match="unknown network class 'nope.Net'"):
        network_class({"model": {"net": {"class_path": "nope.Net"}}})
