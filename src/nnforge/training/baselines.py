"""Reference points computed in the run's own folds: what a trivial and a linear model score.

A run's R² means little alone; these baselines see exactly the rows, folds and preprocessing the
network saw, so the report can say how much the network adds. NumPy only (least squares).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from nnforge.metrics import mean_absolute_error, r2_score

if TYPE_CHECKING:
    from nnforge.training.trainers import FoldData

__all__ = ["baseline_scores"]


def _linear_fit_predict(x_train: np.ndarray, y_train: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Ordinary least squares with an intercept (minimum-norm solution when rank deficient)."""
    a = np.hstack([x_train.astype(np.float64), np.ones((len(x_train), 1))])
    coef, *_ = np.linalg.lstsq(a, y_train.astype(np.float64), rcond=None)
    return np.hstack([x.astype(np.float64), np.ones((len(x), 1))]) @ coef


FoldArrays = Callable[["FoldData"], tuple[np.ndarray, np.ndarray, np.ndarray]]


def baseline_scores(
    folds: Sequence[FoldData], arrays: FoldArrays
) -> dict[str, dict[str, float | None]]:
    """Out-of-fold R² and MAE (original units) of two baselines trained in the same folds.

    ``arrays(fold)`` gives the fold's preprocessed ``(x_train, y_train, x_valid)`` in the model
    dtype (the trainer builds them from the shared table, one fold at a time).

    ``mean``: every held-out row gets the mean target of its fold's training rows.
    ``linear``: least squares on the fold's preprocessed inputs and target, predictions
    reverted through the fold's pipeline (so a log target is modelled on the log scale, as the
    network does).
    """
    truth, mean_pred, linear_pred = [], [], []
    for f in folds:
        x_train, y_model, x_valid = arrays(f)
        y_train = f.pipeline.inverse_transform_outputs(y_model.astype(np.float64))
        truth.append(f.y_valid_true)
        mean_pred.append(np.broadcast_to(y_train.mean(axis=0), f.y_valid_true.shape))
        linear = _linear_fit_predict(x_train, y_model, x_valid)
        linear_pred.append(f.pipeline.invert_predictions(linear))
    y = np.concatenate(truth)
    out = {}
    for name, preds in (("mean", mean_pred), ("linear", linear_pred)):
        p = np.concatenate(preds)
        scores = {"r2": float(r2_score(y, p)), "mae": float(mean_absolute_error(y, p))}
        out[name] = {k: v if np.isfinite(v) else None for k, v in scores.items()}
    return out
