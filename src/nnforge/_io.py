"""Atomic file writes: outputs go to a temporary name in the same folder, then are renamed.

A crash or an error half-way never leaves a half-written file under the final name. Shared by
every package that writes files (data cache, model parameters, run directories, plots).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine imports this module and never Polars
    import polars as pl

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "write_frame"]


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    Examples
    --------
    >>> with atomic_path(tmp / "out.parquet") as tmp_file:  # doctest: +SKIP
    ...     frame.write_parquet(tmp_file)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the usual permissions (0666 & ~umask).
        tmp.chmod(0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_frame(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write a Polars frame as Parquet (``.parquet``) or CSV (any other suffix), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            frame.write_parquet(tmp)
        else:
            frame.write_csv(tmp)
    return path
