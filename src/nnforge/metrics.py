"""Regression metrics that understand the replica axis, and classification metrics.

Inputs are ``(n, k)`` or ``(R, n, k)`` (``(n,)`` is treated as one output). The result is always
a float64 array of shape ``y_true.shape[:-2]``, like a NumPy reduction over the rows: ``()`` (use
``float()``) for ``(n,)``/``(n, k)``, ``(R,)`` for ``(R, n, k)``: one value per replica, never
mixing replicas. With several outputs the per-output values are averaged (scikit-learn's
``"uniform_average"``). ``sample_weight`` of shape ``(n,)`` or ``(R, n)`` weights the rows; zero
weights exclude padding rows.

Classification metrics take the true classes and per-class probabilities ``(n, k)``; the true
classes are integer indices ``(n,)`` or one-hot rows ``(n, k)``. :func:`scores` computes every
metric of a task at once, and :data:`GREATER_IS_BETTER` says which way each one improves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "CLASSIFICATION_METRICS",
    "GREATER_IS_BETTER",
    "REGRESSION_METRICS",
    "accuracy_score",
    "balanced_accuracy_score",
    "confusion_matrix",
    "log_loss",
    "mean_absolute_error",
    "mean_squared_error",
    "precision_recall",
    "r2_score",
    "roc_auc_score",
    "scores",
]

REGRESSION_METRICS = ("r2", "mae")
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "log_loss", "roc_auc")
GREATER_IS_BETTER = {
    "r2": True,
    "mae": False,
    "accuracy": True,
    "balanced_accuracy": True,
    "log_loss": False,
    "roc_auc": True,
    "loss": False,
}
# Probabilities are clipped to [eps, 1 - eps] in the log loss (scikit-learn's choice).
_LOG_LOSS_EPS = 1e-15


def mean_squared_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> np.ndarray:
    """Mean of ``(y_true - y_pred)**2`` per replica."""
    t, p, w = _prepare(y_true, y_pred, sample_weight)
    return _finish(_average((t - p) ** 2, w).mean(axis=-1), y_true)


def mean_absolute_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> np.ndarray:
    """Mean of ``|y_true - y_pred|`` per replica."""
    t, p, w = _prepare(y_true, y_pred, sample_weight)
    return _finish(_average(np.abs(t - p), w).mean(axis=-1), y_true)


def r2_score(y_true: Any, y_pred: Any, sample_weight: Any = None) -> np.ndarray:
    """Coefficient of determination ``1 - SS_res / SS_tot`` per replica.

    A constant ``y_true`` gives 1.0 for a perfect prediction and 0.0 otherwise (scikit-learn's
    ``force_finite``).
    """
    t, p, w = _prepare(y_true, y_pred, sample_weight)
    mean = _average(t, w)[:, None, :]
    ss_res = _average((t - p) ** 2, w)
    ss_tot = _average((t - mean) ** 2, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - ss_res / ss_tot
    r2 = np.where(ss_tot > 0, r2, np.where(ss_res > 0, 0.0, 1.0))
    return _finish(r2.mean(axis=-1), y_true)


def _prepare(y_true: Any, y_pred: Any, sample_weight: Any) -> tuple[np.ndarray, ...]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        msg = (
            "`y_true` and `y_pred` must have the same shape. "
            f"Received: y_true.shape={t.shape}, y_pred.shape={p.shape}"
        )
        raise ValueError(msg)
    if t.ndim not in (1, 2, 3):
        msg = f"`y_true` must be (n,), (n, k) or (R, n, k). Received: y_true.shape={t.shape}"
        raise ValueError(msg)
    if t.ndim == 1:
        t, p = t[:, None], p[:, None]
    if t.ndim == 2:
        t, p = t[None], p[None]
    if t.shape[1] == 0:
        msg = "metrics need at least one row. Received: 0 rows"
        raise ValueError(msg)
    if sample_weight is None:
        return t, p, np.ones(t.shape[:2])
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape == t.shape[1:2]:
        w = np.broadcast_to(w, t.shape[:2])
    if w.shape != t.shape[:2]:
        msg = (
            f"`sample_weight` must have shape (n,) or (R, n) = {t.shape[:2]}. "
            f"Received: sample_weight.shape={w.shape}"
        )
        raise ValueError(msg)
    return t, p, w


def _average(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean over rows: (R, n, k) -> (R, k)."""
    total = w.sum(axis=1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.einsum("rnk,rn->rk", values, w) / total


def _finish(values: np.ndarray, y_true: Any) -> np.ndarray:
    return values.reshape(np.shape(y_true)[:-2])


# -- classification ----------------------------------------------------------------------------


def _classes(y_true: Any, proba: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(proba, dtype=np.float64)
    t = np.asarray(y_true)
    if p.ndim != 2:
        msg = f"`proba` must have shape (n, k). Received: proba.shape={p.shape}"
        raise ValueError(msg)
    if t.ndim == 2:
        t = np.argmax(t, axis=1)
    if t.shape != p.shape[:1]:
        msg = (
            f"`y_true` must have {p.shape[0]} rows like `proba`. "
            f"Received: y_true.shape={t.shape}, proba.shape={p.shape}"
        )
        raise ValueError(msg)
    if len(t) == 0:
        msg = "metrics need at least one row. Received: 0 rows"
        raise ValueError(msg)
    return t.astype(np.int64), p


def accuracy_score(y_true: Any, proba: Any) -> float:
    """Share of rows whose most probable class is the true one."""
    t, p = _classes(y_true, proba)
    return float(np.mean(np.argmax(p, axis=1) == t))


def confusion_matrix(y_true: Any, proba: Any) -> np.ndarray:
    """Counts ``(k, k)``: row = true class, column = predicted (most probable) class."""
    t, p = _classes(y_true, proba)
    k = p.shape[1]
    out = np.zeros((k, k), dtype=np.int64)
    np.add.at(out, (t, np.argmax(p, axis=1)), 1)
    return out


def precision_recall(y_true: Any, proba: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision and recall ``(k,)``; NaN for a class never predicted / never true."""
    cm = confusion_matrix(y_true, proba).astype(np.float64)
    hits = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        return hits / cm.sum(axis=0), hits / cm.sum(axis=1)


def balanced_accuracy_score(y_true: Any, proba: Any) -> float:
    """Mean recall over the classes present in ``y_true`` (accuracy that ignores imbalance)."""
    cm = confusion_matrix(y_true, proba).astype(np.float64)
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def log_loss(y_true: Any, proba: Any) -> float:
    """Mean negative log-probability of the true class (probabilities clipped to 1e-15)."""
    t, p = _classes(y_true, proba)
    true_p = np.clip(p[np.arange(len(t)), t], _LOG_LOSS_EPS, 1.0)
    return float(-np.mean(np.log(true_p)))


def roc_auc_score(y_true: Any, proba: Any) -> float:
    """Area under the ROC curve of a binary target, from the probability of class 1.

    The Mann-Whitney form: the chance that a random positive row scores above a random negative
    one, ties counting half. NaN when only one class is present; for k > 2 classes use the
    other metrics (NaN as well).
    """
    t, p = _classes(y_true, proba)
    if p.shape[1] != 2:
        return float("nan")
    positive = t == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(p[:, 1], return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based, ties averaged
    ranks = average_rank[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def scores(task: str, y_true: Any, y_pred: Any) -> dict[str, float]:
    """Every metric of ``task`` (``"regression"`` or ``"classification"``) by name.

    Regression: ``r2`` and ``mae`` on ``(n, k)`` values. Classification: ``accuracy``,
    ``balanced_accuracy``, ``log_loss`` and ``roc_auc`` (2 classes only) from the true
    classes and per-class probabilities.
    """
    if task == "classification":
        out = {
            "accuracy": accuracy_score(y_true, y_pred),
            "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
            "log_loss": log_loss(y_true, y_pred),
        }
        if np.shape(y_pred)[-1] == 2:
            out["roc_auc"] = roc_auc_score(y_true, y_pred)
        return out
    return {
        "r2": float(r2_score(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
    }
