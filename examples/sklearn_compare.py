"""nnforge's scikit-learn estimators next to MLPRegressor / MLPClassifier, in the same folds.

Run with ``python examples/sklearn_compare.py`` (needs ``pip install 'nnforge[sklearn]'``).
Every peer trains the same network (two hidden ReLU layers of 64, Adam at 1e-3, batch 128, no
L2, a fixed number of epochs: MLP's tolerance-based stop is switched off) on the same 5 folds,
with one BLAS thread, and is scored on the held-out fold (R² or accuracy). Scaling is the same
for both: nnforge standardises inputs (and a regression target) internally; the MLPs get a
``StandardScaler`` on the inputs and, for regression, on the target.

Data sets: diabetes (regression, 442 rows) and digits (10 classes, 1,797 rows), which ship with
scikit-learn, plus King County house prices (log10 price, 21,613 rows, 17 numeric columns) when
``nnforge.datasets.king_county()`` finds the file (``nnforge data where``). ``--quick`` runs
2 folds of 20 epochs.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from nnforge.sklearn import NNForgeClassifier, NNForgeRegressor

HIDDEN = (64, 64)


def peers(task: str, epochs: int) -> dict[str, Any]:
    """The estimators compared on one task, configured alike."""
    common = {"hidden_layer_sizes": HIDDEN, "batch_size": 128, "random_state": 0}
    mlp = {
        **common,
        "solver": "adam",
        "learning_rate_init": 1e-3,
        "alpha": 0.0,
        "max_iter": epochs,
        "n_iter_no_change": epochs,  # never stop early: the same epochs for every peer
        "tol": 0.0,
    }
    ours = {**common, "epochs": epochs, "learning_rate": 1e-3}
    if task == "regression":
        return {
            "nnforge float32": NNForgeRegressor(**ours),
            "nnforge float64": NNForgeRegressor(**ours, dtype="float64"),
            "MLPRegressor": TransformedTargetRegressor(
                make_pipeline(StandardScaler(), MLPRegressor(**mlp)),
                transformer=StandardScaler(),
            ),
        }
    return {
        "nnforge float32": NNForgeClassifier(**ours),
        "nnforge float64": NNForgeClassifier(**ours, dtype="float64"),
        "MLPClassifier": make_pipeline(StandardScaler(), MLPClassifier(**mlp)),
    }


def king_county() -> tuple[np.ndarray, np.ndarray] | None:
    """Numeric King County columns and log10 price, or None when the file is not found."""
    from nnforge.datasets import king_county as load

    try:
        frame = load()
    except FileNotFoundError:
        return None
    drop = {"id", "date", "price", "zipcode"}
    columns = [c for c in frame.columns if c not in drop]
    return frame.select(columns).to_numpy().astype(float), np.log10(frame["price"].to_numpy())


def compare(name: str, task: str, X: np.ndarray, y: np.ndarray, folds: int, epochs: int) -> None:
    """Train every peer on the same folds; print mean score and fit time."""
    splitter = (KFold if task == "regression" else StratifiedKFold)(
        folds, shuffle=True, random_state=0
    )
    splits = list(splitter.split(X, y))
    results: dict[str, tuple[list[float], list[float]]] = {}
    for label, estimator in peers(task, epochs).items():
        scores, seconds = [], []
        for train, test in splits:
            est = clone(estimator)
            start = time.perf_counter()
            est.fit(X[train], y[train])
            seconds.append(time.perf_counter() - start)
            scores.append(est.score(X[test], y[test]))
        results[label] = (scores, seconds)
    metric = "R²" if task == "regression" else "accuracy"
    print(f"\n{name}: {X.shape[0]} rows x {X.shape[1]} features, {folds} folds x {epochs} epochs")
    print(f"| peer | {metric} (mean ± std over folds) | fit s per fold | vs slowest |")
    print("| --- | --- | --- | --- |")
    slowest = max(np.mean(s) for _, s in results.values())
    for label, (scores, seconds) in results.items():
        ratio = slowest / np.mean(seconds)
        print(
            f"| {label} | {np.mean(scores):.3f} ± {np.std(scores):.3f} | "
            f"{np.mean(seconds):.3f} | {ratio:.1f}x |"
        )


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    blas = ", ".join(
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    )
    return f"{cpu}, {os.cpu_count()} cores; BLAS: {blas}; 1 BLAS thread"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 folds x 20 epochs")
    args = parser.parse_args(argv)
    folds, epochs = (2, 20) if args.quick else (5, 100)
    print(machine())
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    tasks: list[tuple[str, str, Callable[[], Any]]] = [
        ("diabetes", "regression", lambda: load_diabetes(return_X_y=True)),
        ("King County (log10 price)", "regression", king_county),
        ("digits", "classification", lambda: load_digits(return_X_y=True)),
    ]
    with threadpool_limits(1, user_api="blas"):
        for name, task, load in tasks:
            data = load()
            if data is None:
                print(f"\n{name}: data file not found (`nnforge data where`), skipped")
                continue
            compare(name, task, *data, folds=folds, epochs=epochs)


if __name__ == "__main__":
    main()
