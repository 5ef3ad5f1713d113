"""``nnforge predict``: predict new rows with a trained run, in original units."""

from __future__ import annotations

import argparse
from pathlib import Path

from nnforge._io import write_frame
from nnforge.cli._common import (
    CLIError,
    add_command,
    check_frame_suffix,
    check_output_file,
    data_errors,
    is_predictions_file,
    load_run,
)

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    parser = add_command(
        subparsers,
        "predict",
        help="predict new rows with a trained run",
        description=(
            "Preprocess the rows of PATH with the run's fitted pipelines and predict them in "
            "original units: the mean of the fold models (<target>_pred) and their spread "
            "(<target>_pred_std), or one fold's model with --fold. A class target gives the "
            "predicted label (<target>_pred) and one probability column per class "
            "(<target>_proba_<label>, with _std across folds). The output keeps every input "
            "column; it is CSV or Parquet by extension and written atomically."
        ),
        examples=[
            "nnforge predict runs/kc --data new_houses.csv --out predictions.csv",
            "nnforge predict runs/kc --data new_houses.parquet --out pred.parquet --fold 3",
        ],
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory from `nnforge train`")
    parser.add_argument("--data", required=True, metavar="PATH", help="rows to predict")
    parser.add_argument(
        "--out", required=True, metavar="PREDICTIONS", help="output .csv or .parquet file"
    )
    parser.add_argument(
        "--fold", type=int, metavar="I", help="use only fold I's model (default: mean of all)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Predict and write the file; returns the exit code."""
    out = check_output_file(
        check_frame_suffix(args.out, "--out"), "--out", is_ours=is_predictions_file
    )
    data = Path(args.data)
    if not data.is_file():
        msg = f"data file `{data}` not found"
        raise CLIError(msg, "check the --data path")
    loaded = load_run(args.run_dir)
    if args.fold is not None and not 0 <= args.fold < len(loaded.networks):
        msg = (
            f"`--fold` must be in [0, {len(loaded.networks) - 1}] for this run. "
            f"Received: --fold {args.fold}"
        )
        raise CLIError(msg, "leave --fold out to average all folds")
    with data_errors(data, "the rows must have the columns the run was trained on"):
        frame = loaded.predict(data, fold=args.fold)
    write_frame(frame, out)
    which = "the mean of all folds" if args.fold is None else f"fold {args.fold}"
    print(f"wrote {frame.height:,} predictions ({which}) to {out}")
    return 0
