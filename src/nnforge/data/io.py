"""Reading tables from disk with errors that say what to fix.

One entry point, :func:`read_table`, picks the reader from the file extension (CSV, Parquet, Arrow
IPC) so that every other module sees a ``polars.DataFrame`` and never a half-read file. Atomic
writes live in :mod:`nnforge._io` (shared with the other packages).

Row numbers in every data error follow one convention: "row N" is the N-th *data* row, 1-based,
so the first row after the CSV header is row 1 (line 2 of the file).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from nnforge.exceptions import DataError

__all__ = [
    "CSV_EXTENSIONS",
    "IPC_EXTENSIONS",
    "PARQUET_EXTENSIONS",
    "DataFileNotFoundError",
    "read_table",
    "row_label",
]

CSV_EXTENSIONS = (".csv", ".tsv", ".txt")
PARQUET_EXTENSIONS = (".parquet", ".pq")
IPC_EXTENSIONS = (".arrow", ".ipc", ".feather")

# Rows used to infer CSV column types. The whole file is used for small files; on large files a
# bounded sample keeps inference cheap, and a later mismatch is reported as a data error.
_INFER_ROWS = 100_000


class DataFileNotFoundError(DataError, FileNotFoundError):
    """A data file does not exist; catchable as ``DataError`` or ``FileNotFoundError``."""


def row_label(index: int) -> str:
    """Format a 0-based frame index as the documented 1-based row number.

    Examples
    --------
    >>> row_label(0)
    'row 1 (line 2 of a CSV file with a header)'
    """
    return f"row {index + 1} (line {index + 2} of a CSV file with a header)"


def read_table(path: str | Path) -> pl.DataFrame:
    """Read a CSV, Parquet or Arrow IPC file into a ``polars.DataFrame``.

    The reader is chosen by extension. CSV columns get their types inferred from the data; quoted
    numbers such as ``"1.5"`` and scientific notation such as ``1.225e+006`` become numeric, and
    empty cells become missing values (null).

    Parameters
    ----------
    path : str or Path
        The file to read.

    Returns
    -------
    polars.DataFrame
        At least one column and one row.

    Raises
    ------
    DataFileNotFoundError
        If the file does not exist.
    DataError
        If the file is a directory, unreadable, of an unknown extension, empty, or has a header
        but no data rows. The message names the file.
    """
    path = Path(path)
    if not path.exists():
        msg = f"data file `{path}` does not exist. Received: path={str(path)!r}"
        raise DataFileNotFoundError(msg)
    if path.is_dir():
        msg = f"data file `{path}` is a directory, expected a file"
        raise DataError(msg)
    suffix = path.suffix.lower()
    if suffix not in CSV_EXTENSIONS + PARQUET_EXTENSIONS + IPC_EXTENSIONS:
        known = ", ".join(CSV_EXTENSIONS + PARQUET_EXTENSIONS + IPC_EXTENSIONS)
        msg = f"cannot read `{path}`: unknown extension `{suffix}`; expected one of {known}"
        raise DataError(msg)
    try:
        size = path.stat().st_size
        with path.open("rb"):  # surfaces permission errors with a clear message
            pass
    except OSError as exc:
        msg = f"cannot read data file `{path}`: {exc.strerror or exc}"
        raise DataError(msg) from exc
    if size == 0:
        msg = f"data file `{path}` is empty (0 bytes); expected a header and data rows"
        raise DataError(msg)
    try:
        if suffix in CSV_EXTENSIONS:
            frame = pl.read_csv(
                path,
                separator="\t" if suffix == ".tsv" else ",",
                infer_schema_length=_INFER_ROWS,
                try_parse_dates=False,
            )
        elif suffix in PARQUET_EXTENSIONS:
            frame = pl.read_parquet(path)
        else:
            frame = pl.read_ipc(path)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"cannot read data file `{path}`: {first}"
        raise DataError(msg) from exc
    if frame.width == 0:
        msg = f"data file `{path}` has no columns"
        raise DataError(msg)
    if frame.height == 0:
        cols = ", ".join(frame.columns)
        msg = f"data file `{path}` has a header ({cols}) but no data rows"
        raise DataError(msg)
    return frame
