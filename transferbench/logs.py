"""Logging for the command line: ``-v`` / ``-q``, and a log file in a sweep's results folder.

A command's *output* (a listing, a CSV, a report) is printed; what a long command says along the way (plans,
progress, estimates, notes) goes through the ``transferbench`` logger, so that ``-q`` silences it, ``-v``
adds the debug lines, and a sweep keeps all of it, timestamped, in ``<results>/sweep.log``. Code written
with ``print(..., file=stream)`` logs through a :class:`LogStream`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

LOGGER = logging.getLogger("transferbench")
LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


class _Stderr(logging.StreamHandler):
    """A handler on whatever ``sys.stderr`` is when a record is written (tests and notebooks replace it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure(verbosity: int = 0) -> None:
    """The ``transferbench`` logger to stderr at WARNING (-1, ``-q``), INFO (0) or DEBUG (1, ``-v``); the
    logger itself passes everything, so a log file gets the debug lines whatever the terminal shows."""
    LOGGER.setLevel(logging.DEBUG)
    handler = next((h for h in LOGGER.handlers if isinstance(h, _Stderr)), None)
    if handler is None:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        LOGGER.addHandler(handler)
    handler.setLevel(LEVELS[max(-1, min(1, verbosity))])
    LOGGER.propagate = False


def ensure_configured() -> None:
    """INFO to stderr when nobody configured the logger (the Python API without the command line)."""
    if not any(isinstance(h, _Stderr) for h in LOGGER.handlers):
        configure(0)


class LogStream(io.TextIOBase):
    """A text stream whose lines become log records (``print(..., file=LogStream())``)."""

    def __init__(self, logger: logging.Logger = LOGGER, level: int = logging.INFO) -> None:
        self.logger, self.level, self._partial = logger, level, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self.logger.log(self.level, line)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self.logger.log(self.level, self._partial)
            self._partial = ""


@contextlib.contextmanager
def log_file(path: str | Path) -> Iterator[Path]:
    """Everything the ``transferbench`` logger says meanwhile, also appended to ``path`` with timestamps
    (DEBUG included, whatever ``-q``/``-v`` chose for the terminal)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    ensure_configured()
    LOGGER.addHandler(handler)
    try:
        yield path
    finally:
        LOGGER.removeHandler(handler)
        handler.close()
