"""Many figures to PNG at once, one process per core: drawing (Agg) is pure Python and holds
the GIL, so threads would not help, and a report's ~17 figures take most of its time.

Worker processes are forked (Linux only): they inherit the figures already built in memory, so
nothing is pickled, and they only draw and encode PNGs (no Polars, whose threads make fork
unsafe for code that uses it), with fonts they open themselves (see ``_own_fonts``). The PNG
bytes come back through pipes, framed by ``Connection.send_bytes``. A figure a worker could not
deliver (it failed, or died) is drawn again in the calling process, so its error, if any, is
raised there as without workers. The bytes are the same either way: Agg output depends on the
figure alone.
"""

from __future__ import annotations

import multiprocessing as mp
import struct
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from nnforge.plots._base import figure_to_png

__all__ = ["figures_to_png"]

_INDEX = struct.Struct("<q")  # the figure's position, ahead of its PNG bytes; -1 - i: failed


def figures_to_png(figures: Sequence[Figure], *, processes: int = 1) -> list[bytes]:
    """Render ``figures`` to PNG bytes, in order, sharing them among ``processes`` processes.

    Parameters
    ----------
    figures : sequence of Figure
        Built matplotlib figures (Agg).
    processes : int, default=1
        Processes drawing, this one included (at most one per figure); 1 draws everything
        here, as does a system without fork (not Linux). The report passes one per core.

    Returns
    -------
    list of bytes
        The PNG files' contents, like :func:`~nnforge.plots.figure_to_png` of each figure.
    """
    n = len(figures)
    processes = max(1, min(int(processes), n))
    if processes == 1 or sys.platform != "linux" or "fork" not in mp.get_all_start_methods():
        return [figure_to_png(fig) for fig in figures]
    shares = [list(range(p, n, processes)) for p in range(processes)]
    ctx = mp.get_context("fork")
    results: dict[int, bytes] = {}
    workers, readers = [], []
    try:
        for share in shares[1:]:
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_draw_share, args=(figures, share, send), daemon=True)
            try:
                with warnings.catch_warnings():
                    _quiet_fork_warnings()
                    proc.start()
            except OSError:  # no process to be had (limits, sandbox): the rest is drawn here
                send.close()
                recv.close()
                break
            send.close()  # the parent's copy: the pipe ends when the worker's does
            reader = threading.Thread(target=_collect, args=(recv, results), daemon=True)
            reader.start()
            workers.append(proc)
            readers.append(reader)
        for i in shares[0]:
            results[i] = figure_to_png(figures[i])
        for reader in readers:
            reader.join()
    finally:
        for proc in workers:
            if proc.is_alive():
                proc.terminate()
            proc.join()
    return [results[i] if i in results else figure_to_png(figures[i]) for i in range(n)]


def _draw_share(figures: Sequence[Figure], share: list[int], conn: Any) -> None:
    """In a worker: draw the figures of ``share`` and send each as index + PNG bytes."""
    try:
        _own_fonts()
        for i in share:
            try:
                png = figure_to_png(figures[i])
            except Exception:  # redrawn in the parent, which raises it there
                conn.send_bytes(_INDEX.pack(-1 - i))
                continue
            conn.send_bytes(_INDEX.pack(i) + png)
    finally:
        conn.close()


def _collect(conn: Any, results: dict[int, bytes]) -> None:
    """In the parent (a thread, so that workers never wait on a full pipe): store the PNGs."""
    with conn:
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                return
            (i,) = _INDEX.unpack_from(message)
            if i >= 0:
                results[i] = message[_INDEX.size :]


def _own_fonts() -> None:
    """Make this forked worker open its own font files. The fonts matplotlib has cached were
    opened by the parent, and a forked process shares their file offsets: two processes
    reading glyphs at once then get each other's bytes (wrong pixels, or FreeType errors such
    as "too many hints"). The caches holding them are dropped, so they are opened again here."""
    from matplotlib import font_manager, mathtext

    font_manager._get_font.cache_clear()
    mathtext.MathTextParser._parse_cached.cache_clear()  # parsed text keeps its fonts


def _quiet_fork_warnings() -> None:
    """Silence the warnings about forking a process that has threads (JAX's hook, Python 3.12's
    own): they are about a child that uses those threads' libraries, and a drawing worker only
    runs matplotlib and zlib, with fonts of its own."""
    warnings.filterwarnings("ignore", message=r".*os\.fork\(\) was called", category=RuntimeWarning)
    warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks")
