"""Stopping a sweep: Ctrl-C means "stop now, keep what is done, resume later", at any ``--jobs``.

Lightning turns a KeyboardInterrupt inside ``fit`` into ``SystemExit(1)`` and then ignores SIGINT; a sweep
installs its own handler first (``install``), which remembers the request (``requested``), so the run in
flight is recorded as interrupted, not failed, and the sweep stops with exit status 130. Pool workers ignore
SIGINT (the parent stops them) and die with their parent (``die_with_parent``): a killed sweep leaves no
worker training in its run folders.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

_requested = threading.Event()


def _handler(signum, frame) -> None:
    _requested.set()
    raise KeyboardInterrupt


def install() -> dict:
    """Ctrl-C (and SIGTERM) stop the sweep through KeyboardInterrupt, remembered across Lightning's handling;
    returns the handlers it replaced, for ``restore``."""
    _requested.clear()
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, _handler)
    return previous


def requested() -> bool:
    return _requested.is_set()


def restore(previous: dict) -> None:
    """The handlers ``install`` replaced (Lightning may have set SIGINT to be ignored meanwhile)."""
    for s, handler in previous.items():
        signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def die_with_parent() -> None:
    """In a pool worker: ignore Ctrl-C (the parent stops the sweep) and exit when the parent is gone, by
    ``PR_SET_PDEATHSIG`` on Linux and a liveness check every second everywhere."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import contextlib
        import ctypes

        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while not threading.Event().wait(1.0):
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
