"""scikit-learn's peer of ``seed_workload.py``: ``MLPRegressor``, one per fold."""

from __future__ import annotations

import time
import warnings

import numpy as np
from _workload import ADAM, BATCH, HIDDEN, UNITS


def run_sklearn(folds, epochs, seed, clock) -> list[np.ndarray]:
    """scikit-learn MLPRegressor, one per fold, Adam with Keras' epsilon, no early stopping."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    preds = []
    for f in folds:
        mlp = MLPRegressor(
            hidden_layer_sizes=(UNITS,) * HIDDEN,
            activation="relu",
            solver="adam",
            alpha=0.0,
            batch_size=BATCH,
            learning_rate_init=ADAM["lr"],
            beta_1=ADAM["beta_1"],
            beta_2=ADAM["beta_2"],
            epsilon=ADAM["epsilon"],
            max_iter=epochs,
            shuffle=True,
            tol=0.0,
            n_iter_no_change=10**9,
            early_stopping=False,
            random_state=seed + f.index,
        )
        clock.fold()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(f.x_train, f.y_train.ravel())
        # sklearn has no per-epoch hook: spread the fit evenly (no warm-up to separate)
        total = time.perf_counter() - clock._last
        clock.epochs[-1] = [total / epochs] * epochs
        preds.append(mlp.predict(f.x_valid).reshape(-1, 1))
    return preds
