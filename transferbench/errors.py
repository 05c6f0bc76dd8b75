"""The user-facing error types, in one place.

Each is raised *before* compute is spent and its message names the file, key or name that is wrong; the
command line prints the message (no traceback) and exits with status 1 for any of them, 2 for a
``UsageError`` (a command line that does not say what to do), as argparse does for the arguments it parses.
"""

from __future__ import annotations


class TransferbenchError(ValueError):
    """Base class: a problem the user can fix; the message says what and where."""


class UsageError(TransferbenchError):
    """A command line that cannot be acted on (a flag that is not taken, a missing mode); exit status 2."""


class DataError(TransferbenchError):
    """A problem with the data on disk; the message names the file and what was expected."""


class StrategyError(TransferbenchError):
    """A strategy configuration that cannot work; raised before any training."""


class TransferError(StrategyError):
    """A checkpoint cannot give a strategy what it needs; the message names the file and the keys."""


class SpecError(TransferbenchError):
    """A sweep file that cannot be planned; the message names the file and the offending key."""


class RegistryError(TransferbenchError, KeyError):
    """An unknown registered name (strategy, dataset source, model); the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RunFolderError(TransferbenchError):
    """A run folder that already holds another run; the message says how to resume or replace it."""
