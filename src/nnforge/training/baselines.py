"""Reference points computed in the run's own folds: what a trivial and a linear model score.

A run's R² means little alone; these baselines see exactly the rows, folds and preprocessing the
network saw, so the report can say how much the network adds. NumPy only (least squares).

Memory stays flat in the number of rows and folds: every fold is read from the shared table a
chunk of rows at a time (:data:`FoldRows`), never as a preprocessed copy of its training rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from nnforge.metrics import mean_absolute_error, r2_score

if TYPE_CHECKING:
    from nnforge.training.trainers import FoldData

__all__ = ["FoldRows", "baseline_scores", "least_squares"]

FoldRows = Callable[["FoldData", np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``rows(fold, row_ids)``: the fold's preprocessed inputs and targets of those rows, in the
model dtype (as the network sees them)."""

# 64 Ki rows x 35 float64 columns: ~18 MB a chunk, large enough for BLAS to run at full speed.
_CHUNK_ROWS = 1 << 16
# Directions of the design whose squared singular value is below this fraction of the largest
# are taken as exact collinearity (a zero column, sqft_living = sqft_above + sqft_basement): the
# rounding of the normal equations leaves such directions at ~1e-17, real ones (King County's
# smallest: 4e-10) far above.
_NULL_RATIO = 1e-13


def _chunks(rows: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), _CHUNK_ROWS):
        yield rows[start : start + _CHUNK_ROWS]


def _design(x: np.ndarray) -> np.ndarray:
    """``[x, 1]`` in float64: the inputs and the intercept's column (one copy)."""
    a = np.empty((len(x), x.shape[1] + 1))
    a[:, :-1] = x
    a[:, -1] = 1.0
    return a


def least_squares(chunks: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]) -> np.ndarray:
    """Coefficients ``b`` minimising ``|[x, 1] b - y|`` over all the ``(x, y)`` chunks that
    ``chunks()`` yields (called twice), minimum-norm when the design is rank deficient.

    What ``np.linalg.lstsq`` on the whole design gives, to float64 rounding for the fitted values
    (measured ~1e-13 relative on King County, whose design is rank deficient), without holding
    the design: normal equations in two passes. The first accumulates ``G = AᵀA`` and takes its
    eigenvectors ``V`` (values ``λ``, the exactly collinear directions dropped); the second
    accumulates the normal equations of the preconditioned design ``A V λ^-½``, whose condition
    number is ~1 (the plain normal equations would square ``cond(A)``, ~5e4 on King County, and
    lose ~8 digits). Each pass reads every chunk once; the coefficient vector lies in the
    retained directions, which is the minimum-norm solution.
    """
    gram = None
    for x, _ in chunks():
        a = _design(x)
        gram = a.T @ a if gram is None else gram + a.T @ a
    if gram is None:
        raise ValueError("least squares on no rows")
    values, vectors = np.linalg.eigh(gram)
    keep = values > _NULL_RATIO * values[-1]
    precondition = vectors[:, keep] / np.sqrt(values[keep])
    lhs = rhs = None
    for x, y in chunks():
        b = _design(x) @ precondition
        y = y.astype(np.float64)
        lhs = b.T @ b if lhs is None else lhs + b.T @ b
        rhs = b.T @ y if rhs is None else rhs + b.T @ y
    z, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    return precondition @ z


def _fold_baselines(f: FoldData, rows: FoldRows) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``f``'s held-out predictions, original units: training mean, least squares."""
    parts = list(_chunks(f.train_rows))
    target_sums: list[np.ndarray] = []  # filled by the first pass of least squares

    def train_chunks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for part in parts:
            x, y = rows(f, part)
            if len(target_sums) < len(parts):
                original = f.pipeline.inverse_transform_outputs(y.astype(np.float64))
                target_sums.append(original.sum(axis=0))
            yield x, y

    coef = least_squares(train_chunks)
    mean = np.sum(target_sums, axis=0) / len(f.train_rows)
    held_out = [_design(rows(f, part)[0]) @ coef for part in _chunks(f.valid_rows)]
    linear = np.concatenate(held_out) if held_out else np.empty((0, coef.shape[1]))
    return np.broadcast_to(mean, f.y_valid_true.shape), f.pipeline.invert_predictions(linear)


def baseline_scores(
    folds: Sequence[FoldData], rows: FoldRows
) -> dict[str, dict[str, float | None]]:
    """Out-of-fold R² and MAE (original units) of two baselines trained in the same folds.

    ``rows(fold, row_ids)`` gives the fold's preprocessed inputs and targets of those rows in
    the model dtype (the trainer applies the fold's steps to chunks of the shared table).

    ``mean``: every held-out row gets the mean target of its fold's training rows.
    ``linear``: least squares on the fold's preprocessed inputs and target
    (:func:`least_squares`), predictions reverted through the fold's pipeline (so a log target
    is modelled on the log scale, as the network does).
    """
    truth, mean_pred, linear_pred = [], [], []
    for f in folds:
        mean, linear = _fold_baselines(f, rows)
        truth.append(f.y_valid_true)
        mean_pred.append(mean)
        linear_pred.append(linear)
    y = np.concatenate(truth)
    out = {}
    for name, preds in (("mean", mean_pred), ("linear", linear_pred)):
        p = np.concatenate(preds)
        scores = {"r2": float(r2_score(y, p)), "mae": float(mean_absolute_error(y, p))}
        out[name] = {k: v if np.isfinite(v) else None for k, v in scores.items()}
    return out
