"""``nnforge demo``: the main job from an installed package, no repository and no download.

``nnforge demo king-county --out DIR`` trains the packaged King County spec on the packaged data
(8 folds x 500 epochs), computes permutation importance and writes the HTML report: the same
three steps as ``nnforge train``, ``nnforge importance`` and ``nnforge report``, which it runs.
"""

from __future__ import annotations

import argparse
import time

from nnforge.cli import importance, report, train
from nnforge.cli._common import add_command, positive_int, timestamp
from nnforge.demos import EXAMPLES, example_spec

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = add_command(
        subparsers,
        "demo",
        help="train a packaged example end to end: model, importance, report",
        description=(
            "Train a model spec shipped with nnforge on its packaged dataset, then compute "
            "permutation importance and write RUN_DIR/report.html. king-county is the tuned King "
            "County model (8 folds x 500 epochs), king-county-seed the seed's own. --print-spec "
            "prints the spec to start your own from."
        ),
        examples=[
            "nnforge demo king-county --out runs/king_county",
            "nnforge demo king-county --epochs 20 --folds 4 --out runs/quick",
            "nnforge demo king-county --print-spec > spec.json",
        ],
    )
    parser.add_argument("example", choices=sorted(EXAMPLES), help="which example")
    parser.add_argument(
        "--out", metavar="RUN_DIR", help="run directory (default: runs/<example>-<timestamp>)"
    )
    train.add_overrides(parser)
    parser.add_argument(
        "--shuffles",
        type=positive_int,
        default=10,
        metavar="N",
        help="importance shuffles (default: 10)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--print-spec", action="store_true", help="print the example's spec JSON and exit"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train, explain and report; returns the exit code."""
    spec = example_spec(args.example)
    if args.print_spec:
        print(spec.read_text(encoding="utf-8"), end="")
        return 0
    out = args.out or f"runs/{args.example}-{timestamp()}"
    train_argv = ["train", str(spec), "--out", out]
    for flag, value in (
        ("--epochs", args.epochs),
        ("--folds", args.folds),
        ("--workers", args.workers),
    ):
        if value is not None:
            train_argv += [flag, str(value)]
    if args.quiet:
        train_argv.append("--quiet")
    steps = (
        train_argv,
        ["importance", out, "--shuffles", str(args.shuffles), "--seed", "0"],
        ["report", out],
    )  # fmt: skip
    seconds = []
    for argv in steps:
        start = time.perf_counter()
        options = _subcommands().parse_args(argv)
        code = options.func(options)
        if code:
            return code
        seconds.append(time.perf_counter() - start)
    phases = " · ".join(f"{argv[0]} {s:.1f} s" for argv, s in zip(steps, seconds, strict=True))
    print(f"demo {args.example}: {phases} · total {sum(seconds):.1f} s")
    return 0


def _subcommands() -> argparse.ArgumentParser:
    """The three steps' own parsers, so the demo gets their defaults and never drifts from them."""
    parser = argparse.ArgumentParser(prog="nnforge")
    subparsers = parser.add_subparsers(required=True)
    for module in (train, importance, report):
        module.register(subparsers)
    return parser
