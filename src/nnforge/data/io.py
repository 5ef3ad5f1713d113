"""Reading tables from disk with errors that say what to fix.

One entry point, :func:`read_table`, picks the reader from the file extension (CSV, Parquet, Arrow
IPC) so that every other module sees a ``polars.DataFrame`` and never a half-read file. Atomic
writes live in :mod:`nnforge._io` (shared with the other packages).

Row numbers in every data error follow one convention: "row N" is the N-th *data* row, 1-based,
so the first row after the CSV header is row 1 (line 2 of the file).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from nnforge.exceptions import DataError

__all__ = [
    "CSV_EXTENSIONS",
    "IPC_EXTENSIONS",
    "PARQUET_EXTENSIONS",
    "DataFileNotFoundError",
    "read_table",
    "row_label",
    "sniff_separator",
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


def read_table(
    path: str | Path,
    *,
    separator: str | None = None,
    encoding: str | None = None,
    na_values: Sequence[str] = (),
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Read a CSV, Parquet or Arrow IPC file into a ``polars.DataFrame``.

    The reader is chosen by extension. CSV columns get their types inferred from the data; quoted
    numbers such as ``"1.5"`` and scientific notation such as ``1.225e+006`` become numeric, and
    empty cells become missing values (null).

    Parameters
    ----------
    path : str or Path
        The file to read.
    separator : str, optional
        CSV field separator. Default: tab for ``.tsv``, else ``,``; a file whose header holds
        none of it but another common separator is reported as such.
    encoding : str, optional
        Text encoding of a CSV file (any Python codec, e.g. ``"latin-1"``, ``"cp1252"``).
        Default: UTF-8, and a file that is not is reported with its first bad row.
    na_values : sequence of str, default=()
        CSV cells (exact text) read as missing, like pandas' ``na_values``, e.g. ``["?", "NA"]``.
    columns : sequence of str, optional
        Read only these columns (the others are never parsed), in file order; when one of them
        is not in the file, every column is read, so that the caller can say what is there.

    Returns
    -------
    polars.DataFrame
        At least one column and one row.

    Raises
    ------
    DataFileNotFoundError
        If the file does not exist.
    DataError
        If the file is a directory, unreadable, of an unknown extension, empty, has a header
        but no data rows, duplicate column names, another separator or another encoding than
        expected. The message names the file (and the row where one is to blame).
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
            frame = _read_csv(path, separator, encoding, list(na_values), columns)
        elif suffix in PARQUET_EXTENSIONS:
            wanted = _present(columns, list(pl.read_parquet_schema(path)))
            frame = pl.read_parquet(path, columns=wanted)
        else:
            wanted = _present(columns, list(pl.read_ipc_schema(path)))
            frame = pl.read_ipc(path, columns=wanted)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
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


def _present(columns: Sequence[str] | None, names: list[str]) -> list[str] | None:
    """``columns`` in file order when all are among ``names``; else None (read them all)."""
    if columns is None or not set(columns) <= set(names):
        return None
    wanted = set(columns)
    return [n for n in names if n in wanted]


def sniff_separator(path: str | Path, encoding: str | None = None) -> str:
    """The most frequent of ``,``, ``;``, tab and ``|`` in the header line of a CSV file."""
    header = _header_line(Path(path), encoding)
    return max(_SEPARATORS, key=header.count) if header else ","


# Separators recognised when a header does not hold the expected one.
_SEPARATORS = (",", ";", "\t", "|")
_SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _header_line(path: Path, encoding: str | None) -> str:
    with path.open("rb") as f:
        raw = f.readline()
    return raw.decode(encoding or "utf-8", errors="replace").rstrip("\r\n")


def _read_csv(
    path: Path,
    separator: str | None,
    encoding: str | None,
    na_values: list[str],
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    sep = separator or ("\t" if path.suffix.lower() == ".tsv" else ",")
    source: Path | io.BytesIO = path
    if encoding is not None and codecs.lookup(encoding).name != "utf-8":
        text = path.read_bytes().decode(encoding, errors="strict")
        source = io.BytesIO(text.encode("utf-8"))
    else:
        _check_utf8(path)
    header = _header_line(path, encoding)
    _check_separator(path, header, sep)
    _check_duplicate_names(path, header, sep)
    options: dict[str, Any] = {
        "separator": sep,
        "try_parse_dates": False,
        "null_values": na_values or None,
        "columns": _present(columns, next(csv.reader([header], delimiter=sep), [])),
    }
    try:
        return pl.read_csv(source, infer_schema_length=_INFER_ROWS, **options)
    except pl.exceptions.ComputeError as exc:
        if "could not parse" not in str(exc):
            raise
        # A column typed from the first rows holds text further down: infer from every row.
        if isinstance(source, io.BytesIO):
            source.seek(0)
        return pl.read_csv(source, infer_schema_length=None, **options)


def _check_utf8(path: Path) -> None:
    """Name the first row that is not UTF-8 (polars only says "invalid utf-8 sequence").

    The file is checked in chunks; only a file that is not UTF-8 is read whole, to name the row.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 24):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return
    except UnicodeDecodeError:
        pass
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = raw.count(b"\n", 0, exc.start)
        start = raw.rfind(b"\n", 0, exc.start) + 1
        snippet = raw[max(start, exc.start - 20) : exc.start + 10].split(b"\n")[0]
        where = "the header" if line_no == 0 else row_label(line_no - 1)
        msg = (
            f"data file `{path}` is not UTF-8: byte 0x{raw[exc.start]:02x} in {snippet!r} "
            f"at {where}"
        )
        raise DataError(
            msg, hint='set the dataset spec\'s "encoding", e.g. "latin-1" or "cp1252"'
        ) from None


def _check_separator(path: Path, header: str, sep: str) -> None:
    if sep in header:
        return
    counts = {s: header.count(s) for s in _SEPARATORS if s != sep}
    likely = max(counts, key=counts.get) if counts else None
    if likely is None or counts[likely] == 0:
        return  # one column: nothing to say
    shown = "\\t" if likely == "\t" else likely
    msg = (
        f"data file `{path}` looks {_SEPARATOR_NAMES[likely]}-separated (`{shown}`), not "
        f"`{sep}`-separated: its header is {header[:60]!r}"
    )
    raise DataError(msg, hint=f'set "separator": "{shown}" in the dataset spec')


def _check_duplicate_names(path: Path, header: str, sep: str) -> None:
    names = next(csv.reader([header], delimiter=sep), [])
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if name in seen:
            msg = (
                f"data file `{path}` has the column name `{name}` twice (columns {seen[name]} "
                f"and {i})"
            )
            raise DataError(msg, hint="rename one of them in the file's header")
        seen[name] = i
