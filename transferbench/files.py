"""Atomic file writes: readers never see half a file, an interrupted write leaves nothing behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    """The process umask, read without changing it where the OS tells it (Linux ``/proc``); elsewhere set
    and restored (``os.umask`` has no read-only form), which other threads could observe for a moment."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success rename it to ``path``, else delete it.

    The file gets the mode a plain ``open`` would give (0666 less the user's umask), not ``mkstemp``'s 0600,
    so results, figures and data are as readable as the user's other files.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


INCOMPLETE = ".swap-incomplete"


@contextmanager
def staged_outputs(folder: Path, keep_in: tuple[str, ...] = ()) -> Iterator[Path]:
    """Write a set of outputs into a staging folder; on success move them into ``folder`` together.

    Files at the staging folder's top level replace their namesakes; a staged sub-folder (``figures/``)
    replaces the old one whole, after the old one's files matching ``keep_in`` patterns that were not
    written again are carried over (e.g. figures this pass could not redraw). The moves run with SIGINT and
    SIGTERM held back, so an interrupted writer leaves the old complete set or the new one, never a mix; a
    crash inside the moves (SIGKILL) leaves ``INCOMPLETE`` behind, which the next pass reports. On an error
    before the moves nothing in ``folder`` changes.
    """
    import fnmatch
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=folder, prefix=".staged-"))
    try:
        yield stage
        marker = folder / INCOMPLETE
        with _signals_held():
            marker.write_text("an output swap was interrupted here; run the command again\n")
            for item in sorted(stage.iterdir()):
                target = folder / item.name
                if item.is_dir():
                    if target.is_dir():
                        for old in target.iterdir():
                            if (
                                any(fnmatch.fnmatch(old.name, k) for k in keep_in)
                                and not (item / old.name).exists()
                            ):
                                os.replace(old, item / old.name)
                        os.replace(target, stage / f".old-{item.name}")
                    os.replace(item, target)
                else:
                    os.replace(item, target)
            marker.unlink()
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Defer SIGINT and SIGTERM until the block ends, then act on them as usual. Python runs signal handlers
    in the main thread, so the deferral is done there by swapping the handlers (blocking the signal in one
    thread would let another thread take it); off the main thread nothing is held."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, object]] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in held}
    for s in held:
        signal.signal(s, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        for s in held:
            signal.signal(s, previous[s])
        for signum, frame in caught[:1]:  # act once, as the first signal would have
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)
