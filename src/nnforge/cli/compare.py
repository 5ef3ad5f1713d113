"""``nnforge compare``: several runs side by side (the seed's optimizer, initialiser, outlier and
dropout comparisons): one summary table and overlaid loss and R² curves."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from nnforge._format import format_quantity
from nnforge._io import atomic_write_text, write_frame
from nnforge.cli._common import (
    CLIError,
    add_command,
    check_output_dir,
    format_table,
    load_run,
    timestamp,
)

if TYPE_CHECKING:
    from nnforge.training import Run

__all__ = ["register", "run", "spec_diff", "summary_frame"]

# Keys of evaluation.json's summary shown as columns, in order.
_METRICS = (
    "oof_r2",
    "mean_fold_r2",
    "std_fold_r2",
    "best_fold_r2",
    "oof_mae",
    "oof_accuracy",
    "mean_fold_accuracy",
    "oof_log_loss",
    "epochs",
    "k",
    "wall_seconds",
)
# The terminal table: summary column -> header.
_SHOWN = {
    "run": "run",
    "oof_r2": "OOF R²",
    "mean_fold_r2": "fold R²",
    "std_fold_r2": "± std",
    "best_fold_r2": "best R²",
    "oof_mae": "MAE",
    "oof_accuracy": "OOF accuracy",
    "mean_fold_accuracy": "fold accuracy",
    "oof_log_loss": "log loss",
    "wall_seconds": "wall s",
}
# Each figure overlays the runs whose history has its metric (regression: R², classification:
# accuracy); a figure no run has is not drawn.
_FIGURES = (
    ("train_loss.png", "train_loss", "Training loss"),
    ("loss.png", "val_loss", "Validation loss"),
    ("r2.png", "r2", "Validation R²"),
    ("accuracy.png", "accuracy", "Validation accuracy"),
)
# What `compare` writes into its output folder (it replaces these and nothing else).
_ENTRIES = frozenset({"compare.csv", "compare.html", *(f for f, _, _ in _FIGURES)})


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand."""
    parser = add_command(
        subparsers,
        "compare",
        help="compare runs: summary table, spec differences, overlaid loss and R² curves",
        description=(
            "Compare two or more run directories: print one table of summary metrics (runs named "
            "by their folder) and the settings in which their specs differ, and write "
            "compare.csv, train_loss.png, loss.png and r2.png (mean over folds ± std per run) and "
            "compare.html to the output folder."
        ),
        examples=[
            "nnforge compare runs/sgd runs/momentum runs/adam --out compare-optimizers",
        ],
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
    for column in _METRICS:
        values = [s.get(column) for s in summaries]
        kind = int if column in ("epochs", "k") else float
        columns[column] = [kind(v) if isinstance(v, int | float) else None for v in values]
    return pl.DataFrame(columns)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"optimizer.learning_rate.decay_rate": 0.02, ...}``: every leaf of a JSON value."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, child in items:
        out.update(_flatten(child, f"{prefix}.{key}" if prefix else str(key)))
    return out


def spec_diff(names: list[str], specs: list[Any]) -> list[dict[str, Any]]:
    """One row per spec setting whose value differs between the runs (missing: ``-``)."""
    flat = [_flatten(spec) for spec in specs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    rows = []
    for key in keys:
        values = [f.get(key, "-") for f in flat]
        if any(v != values[0] for v in values[1:]):
            rows.append(
                {"setting": key} | {n: json.dumps(v) for n, v in zip(names, values, strict=True)}
            )
    return rows


def _target_unit(runs: list[Run]) -> str | None:
    """The unit of the runs' target (``"USD"``) when they all agree, else None."""
    from nnforge.datasets import units_of

    units = {units_of(run.model.dataset).get(str(run.summary.get("target"))) for run in runs}
    return units.pop() if len(units) == 1 else None


def _html(
    table: pl.DataFrame,
    diff: list[dict[str, Any]],
    images: dict[str, tuple[bytes, str]],
    unit: str | None,
) -> str:
    from nnforge.report import html_figure, html_page, html_table

    scores = [c for c in _METRICS if c not in ("oof_mae", "epochs", "k", "wall_seconds")]
    formats: dict[str, Any] = {c: (lambda v: f"{v:.4f}") for c in scores}
    formats["oof_mae"] = lambda v: format_quantity(v, unit)  # "$64,132", as in the report
    some = [c for c in table.columns if table.get_column(c).drop_nulls().len()]
    parts = [
        "<h2>Summary</h2>",
        html_table(table.select(some).to_dicts(), formats=formats),
        "<h2>How the specs differ</h2>",
    ]
    parts.append(
        html_table(diff)
        if diff
        else '<p class="note">The specs are identical: the runs differ only in their data.</p>'
    )
    parts.append("<h2>Curves</h2>")
    parts += [html_figure(png, caption) for png, caption in images.values()]
    return html_page(f"Comparison of {table.height} runs", "".join(parts))


def run(args: argparse.Namespace) -> int:
    """Build the table and the figures; returns the exit code."""
    from nnforge import plots

    if len(args.run_dirs) < 2:
        msg = f"`compare` needs at least two run directories. Received: {len(args.run_dirs)}"
        raise CLIError(msg, "e.g. nnforge compare runs/sgd runs/adam")
    runs = [load_run(p) for p in args.run_dirs]
    names = _names([Path(p) for p in args.run_dirs])
    specs = [json.loads(run.model.to_json()) for run in runs]
    histories = {
        name: run.evaluation.history_frame()
        for name, run in zip(names, runs, strict=True)
        if run.evaluation.history
    }
    table = summary_frame(names, [run.summary for run in runs])
    unit = _target_unit(runs)
    out = Path(args.out) if args.out else Path(f"compare-{timestamp()}")
    check_output_dir(out, "--out", _ENTRIES)
    out.mkdir(parents=True, exist_ok=True)
    write_frame(table, out / "compare.csv")
    images: dict[str, tuple[bytes, str]] = {}
    for file, metric, label in _FIGURES:
        having = {name: h for name, h in histories.items() if metric in h.columns}
        if any(h.get_column(metric).drop_nulls().len() for h in having.values()):
            fig = plots.compare_runs(having, metric, title=f"{label} per epoch")
            images[file] = (plots.figure_to_png(fig), f"{label} per epoch, mean ± std over folds")
            plots.save_figure(fig, out / file)
    diff = spec_diff(names, specs)
    atomic_write_text(out / "compare.html", _html(table, diff, images, unit))
    # The columns some run has: R² and MAE for regression, accuracy and log loss for classes.
    shown = [c for c in _SHOWN if c == "run" or table.get_column(c).drop_nulls().len()]
    mae = pl.col("oof_mae").map_elements(lambda v: format_quantity(v, unit), pl.String)
    print(format_table([_SHOWN[c] for c in shown], table.with_columns(mae).select(shown).rows()))
    changed = ", ".join(row["setting"] for row in diff[:8]) + (", ..." if len(diff) > 8 else "")
    print(f"the specs differ in: {changed}" if diff else "the specs are identical")
    print(
        f"wrote {out / 'compare.csv'}, {', '.join(str(out / f) for f in images)}, "
        f"{out / 'compare.html'}"
    )
    return 0
