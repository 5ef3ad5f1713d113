"""The ``nnforge`` command line.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (taking the parsed ``argparse.Namespace`` and returning an
exit code). This is the only package that prints for humans and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from collections.abc import Iterator, Sequence

from nnforge import __version__
from nnforge.cli._common import HelpFormatter
from nnforge.exceptions import NNForgeError

# Subcommand modules, in the order ``nnforge --help`` lists them.
_COMMANDS = ("demo", "spec", "train", "predict", "importance", "report", "compare", "xor", "data")

_HINTS = {
    FileNotFoundError: "check the path, or see `nnforge data --help` for where data is looked up",
    NNForgeError: "run with --debug for the full traceback",
}


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="nnforge",
        description="Neural networks and revertible preprocessing for tabular data.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"nnforge {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"nnforge.cli.{name}").register(subparsers)
    return parser


def _hint(exc: BaseException) -> str:
    if getattr(exc, "hint", None):  # cli._common.CLIError carries its own hint
        return str(exc.hint)
    for kind, hint in _HINTS.items():
        if isinstance(exc, kind):
            return hint
    return "run with --debug for the full traceback"


@contextlib.contextmanager
def _notes_on_stderr() -> Iterator[None]:
    """Show the library's notes (``logging`` INFO and above of ``nnforge``) as ``nnforge: ...``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_NoteFormatter())
    log = logging.getLogger("nnforge")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


class _NoteFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        kind = "note" if record.levelno < logging.WARNING else "warning"
        return f"nnforge: {kind}: {record.getMessage()}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nnforge`` console script; returns the process exit code."""
    from nnforge.training.processes import interrupt_on_termination

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with interrupt_on_termination(), _notes_on_stderr():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("nnforge: interrupted", file=sys.stderr)
        return 130
    except (NNForgeError, OSError, ValueError, TypeError) as exc:
        if args.debug:
            raise
        text = getattr(exc, "message", None) if getattr(exc, "hint", None) else None
        print(f"nnforge: error: {text or exc}", file=sys.stderr)
        print(f"hint: {_hint(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
