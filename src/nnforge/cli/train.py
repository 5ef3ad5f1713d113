"""``nnforge train``: run a model spec, write the run directory and print a summary table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nnforge._format import format_number, format_quantity, with_unit
from nnforge.cli._common import (
    CLIError,
    add_command,
    data_errors,
    fold_count,
    load_spec,
    positive_int,
    spec_errors,
    timestamp,
)
from nnforge.model import KFolds, Model

__all__ = ["register", "resolve_data", "run", "summary_table"]

_KING_COUNTY_NAME = "kc_house_data"
_PENGUINS_NAME = "penguins"
# Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it); the run is written.
INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = add_command(
        subparsers,
        "train",
        help="train a model spec and write a run directory",
        description=(
            "Train SPEC.json (k-fold or split, as the spec says), show progress, write the run "
            "directory (spec, fitted pipelines, models, evaluation, history, out-of-fold "
            "predictions) and print a summary table."
        ),
        examples=[
            "nnforge train spec.json --data kc_house_data.csv --epochs 50 --folds 5",
            "nnforge train spec.json --out runs/adam --seed 1 --quiet",
            "nnforge train spec.json --backend jax   # compiled epochs (CPU or GPU)",
        ],
    )
    parser.add_argument("spec", metavar="SPEC.json", help="model spec (see `nnforge spec init`)")
    parser.add_argument(
        "--data",
        metavar="PATH",
        help=(
            "data file (default: the spec's `data`, relative to the spec file; the King "
            "County file for a kc_house_data spec, the packaged penguins for a penguins spec)"
        ),
    )
    parser.add_argument(
        "--out", metavar="RUN_DIR", help="run directory (default: runs/<spec stem>-<timestamp>)"
    )
    add_overrides(parser)
    parser.add_argument("--seed", type=int, metavar="S", help="override the seed")
    parser.add_argument(
        "--backend",
        choices=("numpy", "jax"),
        help="override the spec's backend: numpy (reference) or jax (pip install 'nnforge[jax]')",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "-v",
        "--verbose",
        nargs="?",
        const=0,
        type=positive_int,
        metavar="N",
        help="also keep one line every N epochs (mean over folds), like Keras' verbose=2 "
        "(default N: a tenth of the epochs)",
    )
    parser.set_defaults(func=run)


def add_overrides(parser: argparse.ArgumentParser) -> None:
    """--epochs, --folds and --workers: what a run may change of its spec (``nnforge demo``
    passes them on)."""
    parser.add_argument("--epochs", type=positive_int, metavar="N", help="override the epochs")
    parser.add_argument(
        "--folds", type=fold_count, metavar="K", help="override the trainer with K-fold (K >= 2)"
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="W",
        help="worker processes (default: one per core, at most one per fold)",
    )


def resolve_data(model: Model, data: str | None, spec_file: str | Path | None = None) -> Path:
    """The data file: ``--data``, else the spec's ``data`` (relative to the spec file), else the
    King County file for a ``kc_house_data`` spec."""
    if data is not None:
        path = Path(data)
        if not path.is_file():
            msg = f"data file `{path}` not found"
            raise CLIError(msg, "check the --data path")
        return path
    recorded = model.data_path(spec_file)
    if recorded is not None:
        if not recorded.is_file():
            msg = f"the spec's data file `{recorded}` (from `data`: {model.data!r}) not found"
            raise CLIError(msg, "fix `data` in the spec (relative to the spec file) or pass --data")
        return recorded
    if model.dataset.name == _KING_COUNTY_NAME:
        from nnforge.datasets import king_county_path

        return king_county_path()
    if model.dataset.name == _PENGUINS_NAME:  # shipped with the package
        from nnforge.datasets import PENGUINS_PATH

        return PENGUINS_PATH
    msg = f"the spec's dataset `{model.dataset.name}` has no default data file"
    raise CLIError(msg, 'pass the data file with --data PATH (or set `"data"` in the spec)')


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.folds is not None:
        changes["trainer"] = KFolds(k=args.folds)
    if args.seed is not None:
        if args.seed < 0:
            msg = f"`--seed` must be >= 0. Received: --seed {args.seed}"
            raise CLIError(msg, "pick a non-negative integer seed")
        changes["seed"] = args.seed
    if args.backend is not None:
        changes["backend"] = args.backend
    return changes


_METRIC_LABELS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "log_loss": "log loss",
    "roc_auc": "ROC AUC",
}


def _classification_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    n, best, metric = summary.get("k"), summary.get("best_fold"), summary.get("metric")
    where = "validation" if summary.get("trainer") == "split" or n == 1 else "out-of-fold"
    rows = []
    for key, label in _METRIC_LABELS.items():
        if f"oof_{key}" in summary:
            rows.append((f"{where} {label}", format_number(summary.get(f"oof_{key}"))))
    if where == "out-of-fold":
        std = summary.get(f"std_fold_{metric}")
        spread = "" if std is None else f" ± {format_number(std)}"
        label = _METRIC_LABELS.get(metric, metric)
        rows += [
            (
                f"fold {label}",
                f"{format_number(summary.get(f'mean_fold_{metric}'))}{spread} ({n} folds)",
            ),
            (
                f"best fold {label}",
                f"{format_number(summary.get(f'best_fold_{metric}'))} (fold {best})",
            ),
        ]
    rows.append(("classes", ", ".join(map(str, summary.get("classes", [])))))
    return rows


def summary_table(summary: dict[str, Any], run_dir: Path, unit: str | None = None) -> str:
    """The end-of-training table: out-of-fold scores (R² and MAE in the target's unit, or
    accuracy, balanced accuracy, log loss and ROC AUC for a class target), folds, best fold,
    rows, wall time, status, run dir."""
    n, best = summary.get("k"), summary.get("best_fold")
    target = summary.get("target")
    on = f" on {with_unit(str(target), unit)}" if isinstance(target, str) else ""
    mae = format_quantity(summary.get("oof_mae"), unit)
    if summary.get("task") == "classification":
        rows = _classification_rows(summary)
    elif summary.get("trainer") == "split" or n == 1:
        rows = [(f"validation R²{on}", format_number(summary.get("oof_r2"))), ("MAE", mae)]
    else:
        std = summary.get("std_fold_r2")
        spread = "" if std is None else f" ± {format_number(std)}"
        rows = [
            (f"out-of-fold R²{on}", format_number(summary.get("oof_r2"))),
            ("fold R²", f"{format_number(summary.get('mean_fold_r2'))}{spread} ({n} folds)"),
            ("best fold R²", f"{format_number(summary.get('best_fold_r2'))} (fold {best})"),
            ("MAE", mae),
        ]
    wall = summary.get("wall_seconds")
    rows += [
        ("rows", format_number(summary.get("n_rows"))),
        ("wall time", "-" if wall is None else f"{wall:.2f} s"),
    ]
    if summary.get("interrupted"):
        rows.append(("status", "INTERRUPTED: the run holds the epochs that finished"))
    if summary.get("diverged_folds"):
        rows.append(("diverged folds", ", ".join(map(str, summary["diverged_folds"]))))
    rows.append(("run dir", str(run_dir)))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def run(args: argparse.Namespace) -> int:
    """Train and print the summary; returns the exit code."""
    from nnforge.datasets import units_of
    from nnforge.training import ProgressBar, train
    from nnforge.training.rundir import check_replaceable

    model = load_spec(args.spec)
    if not model.dataset.out_features_names():
        msg = f"{args.spec}: no output feature (nothing to predict)"
        raise CLIError(msg, 'set `"output": true` on the target column under dataset.features')
    changes = _overrides(args)
    if changes:
        model = model.with_overrides(**changes)
    data = resolve_data(model, args.data, args.spec)
    out = Path(args.out) if args.out else Path("runs") / f"{Path(args.spec).stem}-{timestamp()}"
    check_replaceable(out)  # before reading any data: refuse what is not ours to replace
    callbacks = []
    if not args.quiet:
        every = 0 if args.verbose is None else args.verbose or max(1, model.epochs // 10)
        callbacks.append(ProgressBar(verbose=every))
    hint = "the data file must have the spec's columns; check --data"
    with data_errors(data, hint), spec_errors(args.spec):
        result = train(
            model, data, out_dir=out, workers=args.workers, callbacks=callbacks, progress=False
        )
    target = result.summary.get("target")
    print(summary_table(result.summary, out, units_of(model.dataset).get(str(target))))
    if result.summary.get("interrupted"):
        print(f"nnforge: training was stopped early; {out} holds what finished", file=sys.stderr)
        return INTERRUPTED
    return 0
