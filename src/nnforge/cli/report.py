"""``nnforge report``: a self-contained HTML report of a run, plus its plots as PNG files."""

from __future__ import annotations

import argparse
from pathlib import Path

from nnforge.cli._common import (
    add_command,
    check_output_file,
    check_run_dir,
)

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    parser = add_command(
        subparsers,
        "report",
        help="write report.html and the plots of a run",
        description=(
            "Write one self-contained HTML file (images embedded) with the spec, summary metrics, "
            "loss and R² curves, predicted vs true, per-feature plots, map, importance (run "
            "`nnforge importance` first to fill it) and the worst predictions; the figures are "
            "also saved as PNG files in RUN_DIR/plots/."
        ),
        examples=[
            "nnforge report runs/kc",
            "nnforge report runs/kc --out kc.html",
        ],
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory from `nnforge train`")
    parser.add_argument("--out", metavar="FILE", help="output file (default: RUN_DIR/report.html)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report and print its path; returns the exit code."""
    from nnforge.report import write_report

    run_dir = check_run_dir(args.run_dir)
    target = run_dir / "report.html" if args.out is None else Path(args.out)
    check_output_file(target, "--out", is_ours=_is_report)
    out = write_report(run_dir, target, plots_dir=run_dir / "plots")
    print(out)
    return 0


def _is_report(path: Path) -> bool:
    """An HTML file whose head names nnforge as its generator."""
    from nnforge.report import GENERATOR

    head = path.open("rb").read(4096).decode("utf-8", "replace")
    return f'<meta name="generator" content="{GENERATOR}">' in head
