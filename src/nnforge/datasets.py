"""Where datasets live, and how to get them: the King County house sales.

The King County table ships inside the package (``nnforge/_datasets/kc_house_data.parquet``,
zstd, with its provenance and licence, CC0, in ``kc_house_data.SOURCE.txt``), so
:func:`king_county` works with no argument and no download. A CSV of your own is looked up
first, in order, at:

1. an explicit ``path`` argument (a file, or a folder containing ``kc_house_data.csv``);
2. ``$NNFORGE_DATA_DIR/kc_house_data.csv``;
3. ``./data/kc_house_data.csv`` (relative to the working directory);
4. the user cache, ``$XDG_CACHE_HOME/nnforge/datasets/`` or ``~/.cache/nnforge/datasets/``, where
   ``nnforge data fetch king-county --url URL`` puts it after checking its SHA-256;
5. the packaged copy.

The packaged table is the original ``kc_house_data.csv`` read with
:func:`~nnforge.data.read_table`; written back with the file's own formatting it gives the
original bytes again (same SHA-256, checked by the tests), so both give the same numbers.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import polars as pl

from nnforge._io import atomic_path
from nnforge.data.cache import file_sha256, user_cache_dir
from nnforge.data.io import DataFileNotFoundError, read_table
from nnforge.data.spec import DatasetSpec
from nnforge.exceptions import DataError

__all__ = [
    "DATA_DIR_ENV",
    "KING_COUNTY_FILE",
    "KING_COUNTY_SHA256",
    "KING_COUNTY_SOURCE",
    "KING_COUNTY_UNITS",
    "PACKAGED_KING_COUNTY",
    "PENGUINS_PATH",
    "fetch_king_county",
    "king_county",
    "king_county_csv",
    "king_county_path",
    "penguins",
    "search_paths",
]

KING_COUNTY_FILE = "kc_house_data.csv"
KING_COUNTY_SHA256 = "d0875baa0251b21d4bdc9d2ae940a4fe0bb6009824f23dd0e2a5b2bf04557b7e"
KING_COUNTY_SOURCE = "https://www.kaggle.com/datasets/harlfoxem/housesalesprediction"
DATA_DIR_ENV = "NNFORGE_DATA_DIR"
PACKAGED_KING_COUNTY = Path(__file__).resolve().parent / "_datasets" / "kc_house_data.parquet"
# How the original CSV writes its cells (see `king_county_csv`): these columns are quoted, ids are
# ten digits with leading zeros, floats are C's %g with a three-digit exponent (1.225e+006).
_KC_QUOTED = frozenset({"id", "date", "floors", "zipcode"})
_CHUNK = 1 << 16

#: Units of the King County columns, for axis labels (``units_of`` gives them to the report).
KING_COUNTY_UNITS: dict[str, str] = {
    "price": "USD",
    "sqft_living": "sq ft",
    "sqft_lot": "sq ft",
    "sqft_above": "sq ft",
    "sqft_basement": "sq ft",
    "sqft_living15": "sq ft",
    "sqft_lot15": "sq ft",
    "lat": "degrees",
    "long": "degrees",
    "yr_built": "year",
    "yr_renovated": "year",
}


def units_of(dataset: DatasetSpec | str | None) -> dict[str, str]:
    """Column units of a dataset: those its spec declares (``unit`` on a feature) over those
    nnforge knows for a dataset of that name (the file stem), else none."""
    name = dataset.name if isinstance(dataset, DatasetSpec) else dataset
    known = dict(KING_COUNTY_UNITS) if name == Path(KING_COUNTY_FILE).stem else {}
    return known | (dataset.units() if isinstance(dataset, DatasetSpec) else {})


# The Palmer penguins (344 rows, CC0) ship inside the package; provenance in penguins.SOURCE.txt.
PENGUINS_PATH = Path(__file__).resolve().parent / "_datasets" / "penguins.parquet"


def penguins() -> pl.DataFrame:
    """The Palmer penguins (344 rows x 8 columns, CC0) shipped with the package.

    A small classification table: the ``species`` (3 classes) from island, bill, flipper, body
    mass, sex and year, with missing values. See ``_datasets/penguins.SOURCE.txt``.

    Examples
    --------
    >>> penguins().shape
    (344, 8)
    """
    return read_table(PENGUINS_PATH)


def default_dest_dir() -> Path:
    """Folder where fetched datasets go: ``<user cache>/datasets``."""
    return user_cache_dir() / "datasets"


def search_paths(filename: str = KING_COUNTY_FILE) -> list[tuple[str, Path]]:
    """The lookup order after an explicit path, as ``(label, candidate file)`` pairs.

    ``$NNFORGE_DATA_DIR`` is listed only when set; the packaged copy (King County only) last.
    """
    out = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        out.append((f"${DATA_DIR_ENV}", Path(env) / filename))
    out.append(("./data/", Path.cwd() / "data" / filename))
    out.append(("user cache", default_dest_dir() / filename))
    if filename == KING_COUNTY_FILE:
        out.append(("packaged copy", PACKAGED_KING_COUNTY))
    return out


def king_county_path(path: str | Path | None = None) -> Path:
    """Resolve the King County file (see the module docstring for the order).

    Parameters
    ----------
    path : str or Path, optional
        A file or a folder holding ``kc_house_data.csv``. When given, it must exist: there is no
        fallback to the other locations, so a typo is never hidden.

    Raises
    ------
    DataFileNotFoundError
        If the file is nowhere (only possible when the package's copy was removed); the message
        lists the places looked at, where to download the file and where to put it.
    """
    if path is not None:
        candidate = Path(path)
        if candidate.is_dir():
            candidate = candidate / KING_COUNTY_FILE
        if candidate.is_file():
            return candidate
        msg = f"King County data not found at `{candidate}` (explicit path)"
        raise DataFileNotFoundError(msg)
    tried = search_paths()
    for _, candidate in tried:
        if candidate.is_file():
            return candidate
    looked = "; ".join(f"{label} {p}" for label, p in tried)
    msg = (
        f"King County data file `{KING_COUNTY_FILE}` not found (looked at: {looked}). "
        f"Download it from {KING_COUNTY_SOURCE} into one of these places or set "
        f"{DATA_DIR_ENV} to its folder, or run `nnforge data fetch king-county --url URL` "
        f"(into {default_dest_dir()}, SHA-256 checked)"
    )
    raise DataFileNotFoundError(msg)


def king_county(path: str | Path | None = None) -> pl.DataFrame:
    """The King County house sales (21,613 rows x 21 columns) as a ``polars.DataFrame``.

    With no ``path`` (and no CSV of your own in the places the module docstring lists) this is
    the copy shipped with the package.

    Examples
    --------
    >>> frame = king_county()
    >>> frame.shape
    (21613, 21)
    """
    return read_table(king_county_path(path))


def king_county_csv(frame: pl.DataFrame | None = None) -> bytes:
    """``frame`` (default: the King County table) written as the original ``kc_house_data.csv``.

    The bytes are those of the published file (SHA-256 ``KING_COUNTY_SHA256``) when ``frame`` is
    the table :func:`king_county` returns: this is how the packaged copy proves where it came
    from, and how to get the CSV back without a download.
    """
    frame = king_county() if frame is None else frame
    columns = [_kc_cells(frame[name]) for name in frame.columns]
    lines = [",".join(frame.columns)] + [",".join(row) for row in zip(*columns, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def _kc_cells(column: pl.Series) -> list[str]:
    if column.name == "id":
        cells = [f"{v:010d}" for v in column]
    elif column.dtype.is_float():
        cells = [re.sub(r"e([+-])(\d\d)$", r"e\g<1>0\2", f"{v:g}") for v in column]
    else:
        cells = [str(v) for v in column]
    return [f'"{c}"' for c in cells] if column.name in _KC_QUOTED else cells


def fetch_king_county(
    url: str,
    dest_dir: str | Path | None = None,
    *,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download the King County CSV, check its SHA-256 and store it atomically.

    The download streams to a temporary file next to the destination; only a file whose
    SHA-256 matches is renamed onto ``dest_dir/kc_house_data.csv``. A failed or corrupted
    download leaves nothing behind. If a file with the right hash is already there, nothing is
    downloaded.

    Parameters
    ----------
    url : str
        ``http(s)://`` or ``file://`` URL of the CSV.
    dest_dir : str or Path, optional
        Defaults to the user cache (``~/.cache/nnforge/datasets``).
    sha256 : str, optional
        Expected hex digest; defaults to ``KING_COUNTY_SHA256``, the published file.
    timeout : float, default=60.0
        Socket timeout in seconds.

    Returns
    -------
    Path
        The stored file.

    Raises
    ------
    DataError
        On a network error or a hash mismatch (the message gives both digests).
    """
    sha256 = (sha256 or KING_COUNTY_SHA256).lower()
    dest = Path(dest_dir) if dest_dir is not None else default_dest_dir()
    target = dest / KING_COUNTY_FILE
    if target.is_file() and file_sha256(target) == sha256:
        return target
    with atomic_path(target) as tmp:
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, tmp.open("wb") as fh:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    fh.write(chunk)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            msg = f"download of {url} failed: {reason}"
            raise DataError(msg) from exc
        got = digest.hexdigest()
        if got != sha256:
            msg = (
                f"download of {url} is corrupted or not the expected file: SHA-256 {got}, "
                f"expected {sha256}; nothing was written"
            )
            raise DataError(msg)
    return target
