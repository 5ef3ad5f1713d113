"""Helpers shared by the subcommands: errors with hints, run loading, tables, file writing."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import textwrap
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnforge._format import format_number
from nnforge._validation import check_scalar
from nnforge.exceptions import DataError, NNForgeError, SpecError

if TYPE_CHECKING:
    from nnforge.model import Model
    from nnforge.training import Run

__all__ = [
    "CLIError",
    "HelpFormatter",
    "add_command",
    "check_frame_suffix",
    "check_output_dir",
    "check_output_file",
    "check_run_dir",
    "data_errors",
    "fold_count",
    "format_table",
    "is_figure_file",
    "is_predictions_file",
    "load_run",
    "load_spec",
    "one_line",
    "positive_int",
    "spec_errors",
    "timestamp",
]

_FRAME_SUFFIXES = (".csv", ".parquet")


class CLIError(NNForgeError, ValueError):
    """A user error of the command line; ``hint`` replaces the generic hint line."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` wrapped to the terminal's width: descriptions are filled, indented lines (the
    examples) are kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            if line.startswith(" ") or not line.strip():
                lines.append(indent + line)
            else:
                wrapped = textwrap.fill(
                    line,
                    width,
                    initial_indent=indent,
                    subsequent_indent=indent,
                    break_on_hyphens=False,
                )
                lines.append(wrapped)
        return "\n".join(lines)


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    *,
    help: str,
    description: str,
    examples: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """A subcommand: its line in the parent's ``--help``, and its own ``--help`` (description
    wrapped to the terminal, then the usage examples as written)."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog="examples:\n" + "\n".join(f"  {line}" for line in examples) if examples else None,
        formatter_class=HelpFormatter,
    )


def positive_int(text: str) -> int:
    """``argparse`` type for integers >= 1."""
    try:
        return check_scalar(int(text), "value", integer=True, min_val=1)
    except ValueError:
        msg = f"must be a positive integer. Received: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def fold_count(text: str) -> int:
    """``argparse`` type for a number of folds (>= 2)."""
    value = positive_int(text)
    if value < 2:
        msg = f"k-fold needs at least 2 folds. Received: {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def timestamp() -> str:
    """Local time as ``YYYYmmdd-HHMMSS`` for default output folder names."""
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def load_spec(path: str | Path) -> Model:
    """Load a model spec; every problem (with its JSON path) on one line."""
    from nnforge.model import Model

    path = Path(path)
    if not path.is_file():
        msg = f"spec file `{path}` not found"
        raise CLIError(msg, "write one with `nnforge spec init DATA.csv --target COL > spec.json`")
    with spec_errors(path):
        return Model.from_json_file(path)


def one_line(text: str) -> str:
    """A multi-line message (``invalid spec:`` then one path per line) on one line."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] + (" " + "; ".join(lines[1:]) if len(lines) > 1 else "") if lines else ""


@contextlib.contextmanager
def spec_errors(path: str | Path) -> Iterator[None]:
    """Turn a :class:`SpecError` into a one-line :class:`CLIError` pointing at ``spec check``."""
    try:
        yield
    except SpecError as exc:
        hint = f"fix the JSON path(s) named above; `nnforge spec check {path}`"
        raise CLIError(one_line(str(exc)), hint) from None


def check_run_dir(path: str | Path) -> Path:
    """The run directory, or a :class:`CLIError` saying what is wrong with it."""
    path = Path(path)
    if not path.is_dir():
        msg = f"run directory `{path}` not found"
        raise CLIError(msg, "pass the folder printed at the end of `nnforge train`")
    if not (path / "spec.json").is_file() or not (path / "evaluation.json").is_file():
        msg = f"`{path}` is not a run directory (no spec.json or evaluation.json)"
        raise CLIError(msg, "pass the folder printed at the end of `nnforge train`")
    return path


@contextlib.contextmanager
def data_errors(path: str | Path, hint: str) -> Iterator[None]:
    """Turn a :class:`DataError` about ``path`` into a :class:`CLIError` naming the file."""
    try:
        yield
    except DataError as exc:
        text = exc.message.removeprefix("data frame: ")
        if str(path) not in text:  # name the file once
            text = f"{path}: {text}"
        raise CLIError(text, exc.hint or hint) from exc


def load_run(path: str | Path) -> Run:
    """Load a run directory with a readable error when it is missing or incomplete."""
    from nnforge.training import Run

    return Run.load(check_run_dir(path))


def check_frame_suffix(path: str | Path, flag: str) -> Path:
    """``path`` if it ends in .csv or .parquet, else a :class:`CLIError` naming ``flag``."""
    path = Path(path)
    if path.suffix.lower() not in _FRAME_SUFFIXES:
        msg = f"`{flag}` must end in .csv or .parquet. Received: {flag} {path}"
        raise CLIError(msg, "e.g. predictions.csv or predictions.parquet")
    return path


def check_output_file(path: str | Path, flag: str, is_ours: Callable[[Path], bool]) -> Path:
    """``path`` if writing it loses nothing: it does not exist, or ``is_ours`` recognises it.

    Refused before any work: a folder, a symbolic link, or a file nnforge did not write.
    """
    path = Path(path)
    if path.is_symlink() or path.is_dir():
        kind = "a symbolic link" if path.is_symlink() else "a folder"
        msg = f"`{flag} {path}` is {kind}, expected a file name; nothing was written"
        raise CLIError(msg, f"give {flag} a new file name")
    if path.exists():
        try:
            ours = is_ours(path)
        except Exception:  # unreadable or another format: not ours
            ours = False
        if not ours:
            msg = f"`{flag} {path}` exists and was not written by nnforge; nothing was written"
            raise CLIError(msg, f"give {flag} a new file name, or move the file away first")
    return path


def check_output_dir(path: str | Path, flag: str, entries: Collection[str]) -> Path:
    """``path`` if it is new, empty, or holds only files this command writes (``entries``)."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        msg = f"`{flag} {path}` exists and is not a folder; nothing was written"
        raise CLIError(msg, f"give {flag} a new folder name")
    if path.is_dir():
        foreign = sorted(e.name for e in path.iterdir() if e.name not in entries)
        if foreign:
            shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            msg = (
                f"`{flag} {path}` holds files nnforge did not write ({shown}); nothing was written"
            )
            raise CLIError(msg, f"give {flag} a new or empty folder")
    return path


def is_predictions_file(path: Path) -> bool:
    """A CSV/Parquet file with a ``<target>_pred`` column: what ``nnforge predict`` writes."""
    import polars as pl

    if path.suffix.lower() == ".parquet":
        columns = list(pl.read_parquet_schema(path))
    else:
        columns = pl.read_csv(path, n_rows=0).columns
    return any(c.endswith("_pred") for c in columns)


def is_figure_file(path: Path) -> bool:
    """A PNG file written by matplotlib (its ``Software`` text chunk), like nnforge's plots."""
    head = path.open("rb").read(256)
    return head.startswith(b"\x89PNG\r\n\x1a\n") and b"Matplotlib" in head


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [list(header)] + [[format_number(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        parts = [row[0].ljust(widths[0]), *rest]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])
