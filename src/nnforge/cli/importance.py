"""``nnforge importance``: permutation importance of a trained run, as tables and a chart."""

from __future__ import annotations

import argparse

from nnforge._io import write_frame
from nnforge.cli._common import (
    add_command,
    format_table,
    load_run,
    positive_int,
)

__all__ = ["register", "run"]

_SHOW = 15


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``importance`` subcommand."""
    parser = add_command(
        subparsers,
        "importance",
        help="permutation feature importance of a trained run",
        description=(
            "Shuffle each input feature (and each source column's group of features) in every "
            "fold's held-out rows and measure the drop in R² (a class target: the run's metric, "
            "by default the increase in log loss). Writes RUN_DIR/importance.csv (per model "
            "input), RUN_DIR/importance_groups.csv (per source column) and RUN_DIR/importance.png "
            "(the grouped chart), and prints the top of the grouped table."
        ),
        examples=[
            "nnforge importance runs/kc --shuffles 20 --seed 1",
        ],
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory from `nnforge train`")
    parser.add_argument(
        "--shuffles", type=positive_int, default=10, metavar="N", help="shuffles (default: 10)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default: 0)")
    parser.set_defaults(func=run)


def importance_measure(metric: str) -> str:
    """What the importance of a run measures, e.g. ``R² drop`` or ``log loss increase``."""
    from nnforge.metrics import GREATER_IS_BETTER

    label = {"r2": "R²", "mae": "MAE", "roc_auc": "ROC AUC"}.get(metric, metric.replace("_", " "))
    return f"{label} {'drop' if GREATER_IS_BETTER[metric] else 'increase'}"


def run(args: argparse.Namespace) -> int:
    """Compute, write and print; returns the exit code."""
    from nnforge import plots
    from nnforge.inspection import run_importance

    loaded = load_run(args.run_dir)
    run_dir = loaded.path
    per_feature, per_group = run_importance(run_dir, n_shuffles=args.shuffles, seed=args.seed)
    measure = importance_measure(loaded.model.selection_metric)
    write_frame(per_feature, run_dir / "importance.csv")
    write_frame(per_group, run_dir / "importance_groups.csv")
    title = f"Permutation importance by source column ({run_dir.name})"
    png = plots.save_figure(
        plots.importance_bar(per_group, title=title, measure=f"the {measure}"),
        run_dir / "importance.png",
    )
    rows = [
        (r["feature"], r["relative"], r["importance"], r["importance_std"])
        for r in per_group.head(_SHOW).iter_rows(named=True)
    ]
    print(format_table(["source column", "relative %", measure, "std"], rows))
    if per_group.height > _SHOW:
        print(f"... {per_group.height - _SHOW} more in {run_dir / 'importance_groups.csv'}")
    print(f"wrote {run_dir / 'importance.csv'}, {run_dir / 'importance_groups.csv'}, {png}")
    return 0
