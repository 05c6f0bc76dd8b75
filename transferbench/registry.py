"""One registry mechanism (timm-style) for strategies, dataset sources and models.

A ``Registry`` maps a name to a class; ``register`` is its decorator, ``get`` / ``create`` raise
:class:`RegistryError` listing the known names, ``describe`` gives each entry's one-line docstring (what
``transferbench strategies`` / ``models`` / ``data sources`` print). Entries are registered on import of
their package's ``__init__``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from transferbench.errors import RegistryError

T = TypeVar("T", bound=type)


def first_line(obj: Any) -> str:
    """The docstring's first sentence as plain text (reST ``literals`` unquoted, wrapped lines joined)."""
    paragraph = (obj.__doc__ or "").strip().split("\n\n")[0]
    text = " ".join(paragraph.split()).replace("``", "`")
    end = re.search(r"(?<!et al)(?<!e\.g)(?<!i\.e)\.\s", text)
    return text if end is None else text[: end.start() + 1]


class Registry(Generic[T]):
    """Named classes of one kind (``kind`` appears in error messages: "unknown strategy 'x'")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Class decorator; ``name`` defaults to the class's ``name`` attribute."""

        def wrap(cls: T) -> T:
            key = name or getattr(cls, "name", "")
            if not key:
                raise ValueError(f"{cls.__name__} needs a `name` to be registered as a {self.kind}")
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = cls
            return cls

        return wrap

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise RegistryError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}")
        return self._entries[name]

    def create(self, name: str, **kwargs: Any) -> Any:
        """An instance of ``name``; arguments set to ``None`` fall back to the class defaults."""
        return self.get(name)(**{k: v for k, v in kwargs.items() if v is not None})

    def describe(self) -> dict[str, str]:
        return {n: first_line(c) for n, c in sorted(self._entries.items())}

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries
