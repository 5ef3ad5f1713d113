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

import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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
from nnforge.training.processes import available_cores
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
    n_jobs: int | None = None,
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
    n_jobs : int, optional
        Threads, each scoring a contiguous share of the replicas (default: the available
        cores, at most ``R``). NumPy releases the GIL in the matrix products, so the shares run
        in parallel; the permutations are drawn in one order beforehand, so the result does not
        depend on ``n_jobs``.
    """
    n_shuffles = int(check_scalar(n_shuffles, "n_shuffles", min_val=1))
    R = network.replicas
    jobs = available_cores() if n_jobs is None else check_scalar(n_jobs, "n_jobs", min_val=1)
    bounds = np.linspace(0, R, min(int(jobs), R) + 1).round().astype(int)
    spans = list(itertools.pairwise(bounds))
    shares = [
        _Share(
            network if len(bounds) == 2 else network.select(range(a, b)),
            xs[a:b],
            ys_true[a:b],
            inverters[a:b],
            metric,
            width=max(len(x) for x in xs),
        )
        for a, b in spans
    ]
    rng = np.random.default_rng(seed)
    drops = np.empty((len(columns), R))
    with ThreadPoolExecutor(len(shares)) as pool:
        base = np.concatenate(list(pool.map(_Share.base_scores, shares)))
        for g, cols in enumerate(columns):
            # Drawn here, replica after replica, so that they do not depend on the threads.
            perms = [rng.permuted(np.tile(np.arange(len(x)), (n_shuffles, 1)), axis=1) for x in xs]
            tasks = [(sh, list(cols), perms[a:b]) for sh, (a, b) in zip(shares, spans, strict=True)]
            drops[g] = base - np.concatenate(list(pool.map(_shuffled_scores, tasks)))
    return drops.mean(axis=1), drops.std(axis=1)


def _shuffled_scores(task: tuple[_Share, list[int], list[np.ndarray]]) -> np.ndarray:
    share, cols, perms = task
    return share.shuffled_scores(cols, perms)


class _Share:
    """Some replicas of an importance computation: their network, rows, targets and inverters."""

    def __init__(self, network: Network, xs, ys_true, inverters, metric: str, width: int) -> None:
        self.network, self.ys_true, self.inverters = network, ys_true, inverters
        self.metric, self.score = metric, _scorer(metric)
        self.sizes = [len(x) for x in xs]
        # Padded to the longest of all replicas, not of this share: every row then goes through
        # the network in the same chunk whatever the number of threads (identical rounding).
        self.x = np.zeros((len(xs), width, xs[0].shape[1]), network.dtype)
        for r, xr in enumerate(xs):
            self.x[r, : self.sizes[r]] = xr

    def base_scores(self) -> np.ndarray:
        """Each replica's score on its own rows, nothing shuffled."""
        pred = self.network.predict(self.x)
        return np.array(
            [
                self.score(self.ys_true[r], self.inverters[r](pred[r, :n]))
                for r, n in enumerate(self.sizes)
            ]
        )

    def shuffled_scores(self, cols: list[int], perms: list[np.ndarray]) -> np.ndarray:
        """Each replica's mean score over the row orders ``perms[r]`` (S, n_r) of ``cols``."""
        R, S, v_max = len(self.sizes), perms[0].shape[0], self.x.shape[1]
        work = np.repeat(self.x[:, None], S, axis=1)  # (R, S, V, F)
        for r, n in enumerate(self.sizes):
            work[r, :, :n][:, :, cols] = self.x[r, perms[r]][:, :, cols]
        pred = self.network.predict(work.reshape(R, S * v_max, -1)).reshape(R, S, v_max, -1)
        return np.array([self._mean_score(r, pred[r, :, :n]) for r, n in enumerate(self.sizes)])

    def _mean_score(self, r: int, pred: np.ndarray) -> float:
        """Replica ``r``'s score averaged over the shuffles of ``pred`` (S, n, n_outputs)."""
        S, n = pred.shape[:2]
        orig = self.inverters[r](pred.reshape(S * n, -1)).reshape(S, n, -1)
        if self.metric == "r2":  # all shuffles in one call
            y = np.broadcast_to(self.ys_true[r], (S, *self.ys_true[r].shape))
            return float(np.mean(r2_score(y, orig)))
        return float(np.mean([self.score(self.ys_true[r], orig[s]) for s in range(S)]))


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
