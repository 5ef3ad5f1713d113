"""Process lifetime: workers die with their parent; Ctrl-C, SIGTERM and SIGHUP stop gracefully.

* :func:`die_with_parent` runs first in every training worker. On Linux the kernel kills the
  worker when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, even on ``kill -9`` of the
  parent); elsewhere a watch thread notices the parent is gone and exits. Workers ignore the
  stop signals themselves: the parent decides when to stop.
* :func:`graceful_stop` turns the first SIGINT/SIGTERM/SIGHUP into "finish the epoch, then
  evaluate and write what finished"; the second one raises :class:`KeyboardInterrupt` at once.
  When the terminal is gone (SIGHUP), terminal output is sent to ``/dev/null`` so that writing
  the progress line cannot crash the run that is being saved.
* :func:`interrupt_on_termination` makes SIGTERM and SIGHUP raise ``KeyboardInterrupt`` like
  Ctrl-C does, so ``finally`` blocks clean up temporary files in every command.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = [
    "STOP_SIGNALS",
    "available_cores",
    "die_with_parent",
    "graceful_stop",
    "interrupt_on_termination",
    "watch_parent",
]

# The signals that mean "stop": Ctrl-C, `kill`, the terminal closing (no SIGHUP on Windows).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_WATCH_SECONDS = 0.5


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, e.g. under ``taskset`` or a
    container's cpuset), at least 1; ``os.cpu_count()`` where affinity is unknown."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _set_parent_death_signal(signum: int) -> bool:
    """Linux: ask the kernel to send ``signum`` when the parent dies; False if unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        return False


def watch_parent(parent_pid: int, interval: float = _WATCH_SECONDS) -> threading.Thread:
    """Start a daemon thread that ends this process once ``parent_pid`` is no longer its parent.

    The portable fallback of the parent-death signal: an orphan is re-parented (to init or a
    subreaper), so ``os.getppid()`` changes when the parent dies.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)

    thread = threading.Thread(target=watch, name="nnforge-parent-watch", daemon=True)
    thread.start()
    return thread


def die_with_parent(parent_pid: int, *, use_prctl: bool = True) -> None:
    """Make this (worker) process end when ``parent_pid`` dies, and ignore the stop signals.

    Call it first thing in a child process. The parent may already be gone by then (it died
    between the fork and this call): the process exits at once.
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    armed = use_prctl and _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)
    if not armed:
        watch_parent(parent_pid)


def _detach_terminal() -> None:
    """Point stdout/stderr at /dev/null where they are a terminal (it was closed: SIGHUP)."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            with contextlib.suppress(OSError):
                if os.isatty(fd):
                    os.dup2(null, fd)
    finally:
        os.close(null)


@contextlib.contextmanager
def graceful_stop(stop: Any) -> Iterator[None]:
    """First stop signal sets ``stop`` (an Event); a second raises ``KeyboardInterrupt``.

    Outside the main thread signals cannot be handled: the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if getattr(signal, "SIGHUP", None) == signum:
            _detach_terminal()
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        stop.set()

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def interrupt_on_termination() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``KeyboardInterrupt`` in the block, like Ctrl-C (main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if getattr(signal, "SIGHUP", None) == signum:
            _detach_terminal()
        raise KeyboardInterrupt

    others = [s for s in STOP_SIGNALS if s != signal.SIGINT]
    previous = {signum: signal.signal(signum, handler) for signum in others}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
