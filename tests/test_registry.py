"""The one registry mechanism, for every registry: unknown names list the known ones, entries describe
themselves, a name cannot be registered twice."""

from __future__ import annotations

import pytest

from transferbench.data.sources import SOURCES
from transferbench.errors import RegistryError, TransferbenchError
from transferbench.models import MODELS
from transferbench.strategies import STRATEGIES

REGISTRIES = {"strategy": STRATEGIES, "dataset source": SOURCES, "model": MODELS}


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_unknown_name_lists_the_known_ones(kind):
    registry = REGISTRIES[kind]
    with pytest.raises(RegistryError) as err:
        registry.get("no_such_thing")
    message = str(err.value)
    assert message.startswith(f"unknown {kind} 'no_such_thing'")
    assert all(name in message for name in registry.names())
    assert isinstance(err.value, TransferbenchError)  # the CLI prints it as one clear error


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_every_entry_describes_itself_and_is_registered_once(kind):
    registry = REGISTRIES[kind]
    assert len(registry.names()) >= 3
    for name, line in registry.describe().items():
        assert line.strip(), f"{kind} {name} has no one-line docstring"
    name, cls = registry.items()[0]
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(name)(cls)
