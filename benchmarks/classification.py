"""Classification through the command line only, against scikit-learn on the same folds.

For each public table (scikit-learn's bundled iris, wine, breast cancer and digits, exported to
CSV, and the Palmer penguins shipped with nnforge) this runs, with no edit of the spec::

    nnforge spec init DATA.csv --target TARGET > spec.json
    nnforge train spec.json --data DATA.csv --folds 5 --out RUN
    nnforge predict RUN --data DATA.csv --out predictions.csv

and scores nnforge's out-of-fold predictions. scikit-learn's ``LogisticRegression`` and
``MLPClassifier`` (defaults, more iterations) are then fitted on exactly the same folds (read
from the run's ``predictions.csv``), with median imputation, one-hot categories and
standardised inputs fitted on each fold's training rows. Run with ``make bench-classification``
(installs scikit-learn into .venv); results go to ``benchmarks/results/classification.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _machine  # benchmarks/_machine.py, beside this script
import numpy as np
import polars as pl

NNFORGE = Path(sys.executable).parent / "nnforge"
RESULTS = Path(__file__).resolve().parent / "results" / "classification.json"


def sklearn_tables(folder: Path) -> dict[str, tuple[Path, str]]:
    """The bundled scikit-learn tables as CSV files, plus the packaged penguins."""
    from sklearn import datasets

    from nnforge.datasets import penguins

    out: dict[str, tuple[Path, str]] = {}
    loaders = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
    }
    for name, load in loaders.items():
        bunch = load()
        columns = [
            str(c).replace(" ", "_").replace("(cm)", "").strip("_") for c in bunch.feature_names
        ]
        frame = pl.DataFrame(bunch.data, schema=columns, orient="row")
        target = bunch.target
        if name in ("iris", "wine"):  # string labels, as a user's table would have them
            labels = pl.Series("target", np.asarray(bunch.target_names)[target])
        else:
            labels = pl.Series("target", target)
        path = folder / f"{name}.csv"
        frame.with_columns(labels).write_csv(path)
        out[name] = (path, "target")
    path = folder / "penguins.csv"
    penguins().write_csv(path)
    out["penguins"] = (path, "species")
    return out


def cli(*args: str, stdout: Path | None = None) -> str:
    """Run ``nnforge ARGS`` and return its stdout (or write it to ``stdout``)."""
    proc = subprocess.run([str(NNFORGE), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"nnforge {' '.join(args)} failed:\n{proc.stderr}")
    if stdout is not None:
        stdout.write_text(proc.stdout, encoding="utf-8")
    return proc.stdout


def run_nnforge(path: Path, target: str, work: Path, folds: int) -> dict[str, Any]:
    spec, run, pred = work / f"{path.stem}.json", work / f"run-{path.stem}", work / "pred.csv"
    start = time.perf_counter()
    cli("spec", "init", str(path), "--target", target, stdout=spec)
    cli(
        "train", str(spec), "--data", str(path), "--folds", str(folds), "--out", str(run), "--quiet"
    )
    wall = time.perf_counter() - start
    cli("predict", str(run), "--data", str(path), "--out", str(pred))
    oof = pl.read_csv(run / "predictions.csv", infer_schema_length=None)
    summary = json.loads((run / "evaluation.json").read_text())["summary"]
    predicted = pl.read_csv(pred, infer_schema_length=None)
    return {
        "accuracy": float((oof[f"{target}_pred"] == oof[target]).mean()),
        "balanced_accuracy": summary["oof_balanced_accuracy"],
        "log_loss": summary["oof_log_loss"],
        "folds": oof["fold"].to_numpy(),
        "wall_s": wall,
        "spec": json.loads(spec.read_text()),
        "predict_rows": predicted.height,
        "predict_has_probabilities": any(
            c.startswith(f"{target}_proba_") for c in predicted.columns
        ),
    }


def run_sklearn(path: Path, target: str, folds: np.ndarray) -> dict[str, float]:
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pl.read_csv(path, infer_schema_length=None)
    y = frame[target].cast(pl.String).to_numpy()
    x = frame.drop(target)
    numeric = [c for c, t in x.schema.items() if t.is_numeric()]
    text = [c for c in x.columns if c not in numeric]
    x = x.to_pandas()

    def pipeline(estimator):
        prep = make_column_transformer(
            (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                text,
            ),
        )
        return make_pipeline(prep, estimator)

    peers = {
        "LogisticRegression": lambda: LogisticRegression(max_iter=5000),
        "MLPClassifier": lambda: MLPClassifier(max_iter=2000, random_state=0),
    }
    out = {}
    for name, make in peers.items():
        pred = np.empty(len(y), dtype=object)
        start = time.perf_counter()
        for f in np.unique(folds):
            valid = folds == f
            model = pipeline(make()).fit(x[~valid], y[~valid])
            pred[valid] = model.predict(x[valid])
        out[name] = float(np.mean(pred == y))
        out[f"{name}_wall_s"] = time.perf_counter() - start
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="table names (default: all)")
    args = parser.parse_args(argv)
    info = _machine.machine()
    print(f"machine: {info}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, (path, target) in sklearn_tables(work).items():
            if args.only and name not in args.only:
                continue
            n = pl.read_csv(path, infer_schema_length=None).height
            ours = run_nnforge(path, target, work, args.folds)
            theirs = run_sklearn(path, target, ours["folds"])
            spec = ours["spec"]
            row = {
                "table": name,
                "rows": n,
                "nnforge": ours["accuracy"],
                "nnforge_balanced": ours["balanced_accuracy"],
                "nnforge_log_loss": ours["log_loss"],
                "LogisticRegression": theirs["LogisticRegression"],
                "MLPClassifier": theirs["MLPClassifier"],
                "nnforge_wall_s": round(ours["wall_s"], 2),
                "batch_size": spec["batch_size"],
                "epochs": spec["epochs"],
                "predict_ok": ours["predict_rows"] == n and ours["predict_has_probabilities"],
            }
            rows.append(row)
            print(
                f"{name:<14} {n:>5} rows  nnforge {row['nnforge']:.4f}  "
                f"LogisticRegression {row['LogisticRegression']:.4f}  "
                f"MLPClassifier {row['MLPClassifier']:.4f}  "
                f"(batch {row['batch_size']}, <= {row['epochs']} epochs, "
                f"{row['nnforge_wall_s']} s)",
                flush=True,
            )
    print()
    print("| table | rows | nnforge | LogisticRegression | MLPClassifier | nnforge - best peer |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        gap = r["nnforge"] - max(r["LogisticRegression"], r["MLPClassifier"])
        print(
            f"| {r['table']} | {r['rows']} | {r['nnforge']:.3f} | {r['LogisticRegression']:.3f} "
            f"| {r['MLPClassifier']:.3f} | {100 * gap:+.1f} pt |"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
