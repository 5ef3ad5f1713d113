"""Permutation feature importance (the seed's 2.j.d), batched over shuffles and folds.

For every input feature (or group of features from one source column: a column with its square,
the one-hot columns of a category), its values are shuffled across the held-out rows of each
fold, ``n_shuffles`` times, and the drop in R² (original units) of that fold's own model is
measured. All shuffles of a feature, for all folds, go through the network in one call. A class
target is scored with the run's metric instead (default log loss: the importance is then the
increase in log loss; for accuracy and the like, the drop).

Importance is the mean drop over folds and shuffles; ``importance_std`` is the standard
deviation across folds of each fold's mean drop. ``relative`` is the share (percent) of the
positive importances, so it sums to 100 like the seed's figure 28; features whose shuffling does
not hurt (importance <= 0) get 0 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from nnforge._validation import check_scalar
from nnforge.data import derive
from nnforge.metrics import (
    GREATER_IS_BETTER,
    accuracy_score,
    balanced_accuracy_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)
from nnforge.nn import Network
from nnforge.training.loop import Inverter
from nnforge.training.run import Run

__all__ = [
    "held_out_arrays",
    "permutation_importance",
    "permutation_importance_arrays",
    "run_importance",
]


def permutation_importance_arrays(
    network: Network,
    xs: Sequence[np.ndarray],
    ys_true: Sequence[np.ndarray],
    inverters: Sequence[Inverter],
    columns: Sequence[Sequence[int]],
    *,
    n_shuffles: int = 10,
    seed: int = 0,
    metric: str = "r2",
) -> tuple[np.ndarray, np.ndarray]:
    """Score drop for each column set, per replica (fold): returns ``(mean, std)`` over folds.

    Parameters
    ----------
    network : Network
        ``R`` replicas; replica ``r`` is evaluated on ``xs[r]``.
    xs : sequence of ndarray of shape (n_r, n_inputs)
        Preprocessed held-out inputs of each replica.
    ys_true : sequence of ndarray of shape (n_r, n_outputs)
        Targets in original units.
    inverters : sequence of callables
        Map replica r's raw outputs to original units.
    columns : sequence of sequences of int
        The input columns shuffled together, one entry per reported importance.
    metric : str, default="r2"
        What is measured (a name of :data:`nnforge.metrics.GREATER_IS_BETTER`); the importance
        is the loss of quality, so a metric where lower is better (log loss, MAE) counts its
        increase.
    """
    n_shuffles = int(check_scalar(n_shuffles, "n_shuffles", min_val=1))
    R = network.replicas
    sizes = np.array([len(x) for x in xs])
    v_max = int(sizes.max())
    x = np.zeros((R, v_max, xs[0].shape[1]), dtype=network.dtype)
    for r, xr in enumerate(xs):
        x[r, : sizes[r]] = xr
    base = network.predict(x)
    score = _scorer(metric)
    base_r2 = np.array([score(ys_true[r], inverters[r](base[r, : sizes[r]])) for r in range(R)])
    rng = np.random.default_rng(seed)
    drops = np.empty((len(columns), R))
    tiled = np.repeat(x[:, None], n_shuffles, axis=1)  # (R, S, V, F)
    for g, cols in enumerate(columns):
        cols = list(cols)
        work = tiled.copy()
        for r in range(R):
            n = sizes[r]
            perms = rng.permuted(np.tile(np.arange(n), (n_shuffles, 1)), axis=1)  # (S, n)
            work[r, :, :n][:, :, cols] = x[r, perms][:, :, cols]
        pred = network.predict(work.reshape(R, n_shuffles * v_max, -1))
        pred = pred.reshape(R, n_shuffles, v_max, -1)
        for r in range(R):
            n = sizes[r]
            orig = inverters[r](pred[r, :, :n].reshape(n_shuffles * n, -1))
            if metric == "r2":  # all shuffles in one call
                scores = r2_score(
                    np.broadcast_to(ys_true[r], (n_shuffles, *ys_true[r].shape)),
                    orig.reshape(n_shuffles, n, -1),
                )
            else:
                shuffled = orig.reshape(n_shuffles, n, -1)
                scores = np.array([score(ys_true[r], shuffled[s]) for s in range(n_shuffles)])
            drops[g, r] = base_r2[r] - float(np.mean(scores))
    return drops.mean(axis=1), drops.std(axis=1)


_METRICS = {
    "r2": r2_score,
    "mae": mean_absolute_error,
    "accuracy": accuracy_score,
    "balanced_accuracy": balanced_accuracy_score,
    "log_loss": log_loss,
    "roc_auc": roc_auc_score,
}


def _scorer(metric: str):
    """``metric`` as a greater-is-better score of ``(y_true, y_pred)``."""
    if metric not in _METRICS:
        msg = f"`metric` must be one of {sorted(_METRICS)}. Received: metric={metric!r}"
        raise ValueError(msg)
    fn, sign = _METRICS[metric], 1.0 if GREATER_IS_BETTER[metric] else -1.0
    return lambda y_true, y_pred: sign * float(fn(y_true, y_pred))


def _table(names: list[str], groups: list[str] | None, mean: np.ndarray, std: np.ndarray):
    positive = np.clip(mean, 0.0, None)
    total = positive.sum()
    relative = 100.0 * positive / total if total > 0 else np.zeros_like(mean)
    data = {"feature": names}
    if groups is not None:
        data["group"] = groups
    data.update({"importance": mean, "importance_std": std, "relative": relative})
    return pl.DataFrame(data).sort("importance", descending=True)


def permutation_importance(
    network: Network,
    xs: Sequence[np.ndarray],
    ys_true: Sequence[np.ndarray],
    inverters: Sequence[Inverter],
    feature_names: Sequence[str],
    feature_groups: dict[str, str] | None = None,
    *,
    n_shuffles: int = 10,
    seed: int = 0,
    metric: str = "r2",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per-feature and per-source-column importance tables, sorted by importance.

    Returns ``(features, groups)``: ``features`` has columns feature, group, importance,
    importance_std, relative; ``groups`` has feature (the source column), importance,
    importance_std, relative.
    """
    names = list(feature_names)
    groups = dict(feature_groups or {n: n for n in names})
    group_of = [groups.get(n, n) for n in names]
    per_feature = permutation_importance_arrays(
        network,
        xs,
        ys_true,
        inverters,
        [[j] for j in range(len(names))],
        n_shuffles=n_shuffles,
        seed=seed,
        metric=metric,
    )
    group_names = list(dict.fromkeys(group_of))
    members = [[j for j, g in enumerate(group_of) if g == name] for name in group_names]
    per_group = permutation_importance_arrays(
        network,
        xs,
        ys_true,
        inverters,
        members,
        n_shuffles=n_shuffles,
        seed=seed + 1,
        metric=metric,
    )
    return _table(names, group_of, *per_feature), _table(group_names, None, *per_group)


def held_out_arrays(run: Run) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each fold's held-out inputs (preprocessed by its own pipeline) and targets (original
    units), from the run's out-of-fold predictions file."""
    predictions = run.predictions
    frame = derive(run.model.dataset, predictions, cache=False)  # keeps row order
    folds = predictions["fold"].to_numpy()
    xs, ys = [], []
    for i, pipeline in enumerate(run.pipelines):
        rows = frame.filter(pl.Series(folds == i))
        _, x, y = pipeline.to_arrays(pipeline.transform(rows), dtype=run.model.dtype)
        xs.append(x)
        ys.append(pipeline.inverse_transform_outputs(y))
    return xs, ys


def run_importance(
    run_dir: str | Path, *, n_shuffles: int = 10, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Importance for a saved run, each fold's model on its own held-out rows, measured with
    the run's metric (R² for regression unless the spec names another; log loss by default for
    a class target)."""
    run = Run.load(run_dir)
    xs, ys = held_out_arrays(run)
    pipeline = run.pipelines[0]
    with threadpool_limits(1):  # small matrices: one BLAS thread is fastest, never oversubscribed
        return permutation_importance(
            Network.stack(run.networks),
            xs,
            ys,
            [p.invert_predictions for p in run.pipelines],
            pipeline.input_features_,
            pipeline.feature_groups_,
            n_shuffles=n_shuffles,
            seed=seed,
            metric=run.model.selection_metric,
        )
