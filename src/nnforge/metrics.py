"""Regression metrics that understand the replica axis.

Inputs are ``(n, k)`` or ``(R, n, k)`` (``(n,)`` is treated as one output). The result is always
a float64 array of shape ``y_true.shape[:-2]``, like a NumPy reduction over the rows: ``()`` (use
``float()``) for ``(n,)``/``(n, k)``, ``(R,)`` for ``(R, n, k)``: one value per replica, never
mixing replicas. With several outputs the per-output values are averaged (scikit-learn's
``"uniform_average"``). ``sample_weight`` of shape ``(n,)`` or ``(R, n)`` weights the rows; zero
weights exclude padding rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["mean_absolute_error", "mean_squared_error", "r2_score"]


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
