"""``nnforge compare``: several runs side by side (the seed's optimizer, initialiser, outlier and
dropout comparisons): one summary table and overlaid loss and R² curves."""

from __future__ import annotations

import argparse
import base64
import html
import json
from pathlib import Path
from typing import Any

import polars as pl

from nnforge._format import format_number
from nnforge._io import atomic_write_text
from nnforge.cli._common import (
    CLIError,
    check_run_dir,
    examples,
    format_table,
    timestamp,
    write_frame,
)

__all__ = ["register", "run", "summary_frame"]

# (column in the table, key in evaluation.json's summary)
_METRICS = (
    ("oof_r2", "oof_r2"),
    ("mean_fold_r2", "mean_fold_r2"),
    ("std_fold_r2", "std_fold_r2"),
    ("best_fold_r2", "best_fold_r2"),
    ("oof_mae", "oof_mae"),
    ("epochs", "epochs"),
    ("k", "k"),
    ("wall_seconds", "wall_seconds"),
)
_FIGURES = (("loss.png", "val_loss", "Validation loss"), ("r2.png", "r2", "Validation R²"))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand."""
    parser = subparsers.add_parser(
        "compare",
        help="compare runs: summary table and overlaid loss and R² curves",
        description=(
            "Compare two or more run directories: print one table of summary metrics (runs "
            "named by their folder) and write compare.csv, loss.png and r2.png (mean over folds "
            "± std per run) and compare.html to the output folder."
        ),
        epilog=examples(
            "nnforge compare runs/sgd runs/momentum runs/adam --out compare-optimizers",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories")
    parser.add_argument(
        "--out", metavar="DIR", help="output folder (default: ./compare-<timestamp>)"
    )
    parser.set_defaults(func=run)


def _names(paths: list[Path]) -> list[str]:
    """Folder names, made unique with the parent folder and then an index where needed."""
    names = [p.resolve().name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.resolve().parent.name}/{p.resolve().name}" for p in paths]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def summary_frame(names: list[str], summaries: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per run with the summary metrics of ``evaluation.json``."""
    columns: dict[str, list[Any]] = {"run": names}
    for column, key in _METRICS:
        values = [s.get(key) for s in summaries]
        kind = int if column in ("epochs", "k") else float
        columns[column] = [kind(v) if isinstance(v, int | float) else None for v in values]
    return pl.DataFrame(columns)


def _html(table: pl.DataFrame, images: dict[str, bytes]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(format_number(v))}</td>" for v in row) + "</tr>"
        for row in table.iter_rows()
    )
    figures = "".join(
        f'<figure><img alt="{html.escape(name)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"></figure>'
        for name, png in images.items()
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>nnforge compare</title><style>body{font-family:sans-serif;max-width:1100px;"
        "margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:.2em .6em;text-align:right}img{max-width:100%}</style></head><body>"
        f"<h1>Comparison of {table.height} runs</h1><table><tr>{head}</tr>{body}</table>"
        f"{figures}</body></html>\n"
    )


def run(args: argparse.Namespace) -> int:
    """Build the table and the figures; returns the exit code."""
    from nnforge import plots

    paths = [check_run_dir(p) for p in args.run_dirs]
    if len(paths) < 2:
        msg = f"`compare` needs at least two run directories. Received: {len(paths)}"
        raise CLIError(msg, "e.g. nnforge compare runs/sgd runs/adam")
    names = _names(paths)
    summaries, histories = [], {}
    for name, path in zip(names, paths, strict=True):
        evaluation = json.loads((path / "evaluation.json").read_text(encoding="utf-8"))
        summaries.append(evaluation.get("summary", {}))
        history = path / "history.csv"
        if history.is_file():
            histories[name] = pl.read_csv(history, infer_schema_length=None)
    table = summary_frame(names, summaries)
    out = Path(args.out) if args.out else Path(f"compare-{timestamp()}")
    out.mkdir(parents=True, exist_ok=True)
    write_frame(table, out / "compare.csv")
    images: dict[str, bytes] = {}
    if histories:
        for file, metric, label in _FIGURES:
            fig = plots.compare_runs(histories, metric, title=f"{label} per epoch")
            images[file] = plots.figure_to_png(fig)
            plots.save_figure(fig, out / file)
    atomic_write_text(out / "compare.html", _html(table, images))
    shown = [
        "run",
        "oof_r2",
        "mean_fold_r2",
        "std_fold_r2",
        "best_fold_r2",
        "oof_mae",
        "wall_seconds",
    ]
    print(
        format_table(
            ["run", "OOF R²", "fold R²", "± std", "best R²", "MAE", "wall s"],
            table.select(shown).rows(),
        )
    )
    print(
        f"wrote {out / 'compare.csv'}, {', '.join(str(out / f) for f in images)}, "
        f"{out / 'compare.html'}"
    )
    return 0
