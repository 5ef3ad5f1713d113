"""Content-addressed cache of derived frames.

``derive`` is a pure function of (spec, file content, nnforge version), so its result is stored
under the SHA-256 of those three and reused when they match. Entries are Parquet files written
atomically; a corrupt entry is treated as a miss and rewritten. The cache lives in the user cache
directory (never in the repository) and can be moved or turned off per call.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import polars as pl

from nnforge._io import atomic_path

__all__ = ["DerivedCache", "file_sha256", "resolve_cache_dir", "user_cache_dir"]

# Bump when derive's output for the same spec and file changes.
DERIVE_FORMAT = 1
_CHUNK = 1 << 20


def user_cache_dir() -> Path:
    """nnforge's per-user cache folder: ``$XDG_CACHE_HOME/nnforge`` or ``~/.cache/nnforge``."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "nnforge"


def resolve_cache_dir(cache: bool | str | Path | None) -> Path | None:
    """Map ``derive``'s ``cache`` argument to a folder, or None when caching is off.

    ``True`` means ``user_cache_dir() / "derived"``, ``False``/``None`` disables the cache and
    a path uses that folder.
    """
    if cache is None or cache is False:
        return None
    if cache is True:
        return user_cache_dir() / "derived"
    return Path(cache)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class DerivedCache:
    """A folder of ``<key>.parquet`` derived frames.

    Parameters
    ----------
    folder : Path
        Created on the first store.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @staticmethod
    def key(spec_json: str, file_hash: str, version: str) -> str:
        """The entry name for a canonical spec JSON, a file hash and the nnforge version."""
        digest = hashlib.sha256()
        for part in (f"derive-v{DERIVE_FORMAT}", version, file_hash, spec_json):
            digest.update(part.encode("utf-8"))
            digest.update(b"\x00")
        return digest.hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.parquet"

    def load(self, key: str) -> pl.DataFrame | None:
        """The stored frame, or None on a miss (or an unreadable entry)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return pl.read_parquet(path)
        except (pl.exceptions.PolarsError, OSError):
            return None

    def store(self, key: str, frame: pl.DataFrame) -> Path:
        """Write ``frame`` atomically; a failed write leaves no entry behind."""
        path = self.path(key)
        with atomic_path(path) as tmp:
            frame.write_parquet(tmp)
        return path
