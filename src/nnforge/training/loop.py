"""The epoch loop over a group of replicas (folds) trained in the same array operations.

This module works on NumPy arrays only: the trainer prepares one :class:`ReplicaData` per group of
folds, and :func:`train_replicas` runs in the main process or in a worker process. Replica ``r``
of a group is fold ``folds[r]``; it has its own rows, weights, optimizer state, batch order and
dropout masks, and never mixes with the others.

Folds rarely have exactly the same number of training rows. To keep one batch loop for all, a
fold with ``n_r`` rows visits ``n_max - n_r`` extra rows each epoch, drawn from the start of that
epoch's own shuffled order (one row per epoch without outlier filtering).

The loop also serves estimators that train on plain arrays (``nnforge.sklearn``): they pass one
replica, optional sample weights, no held-out rows (nothing is validated then) and the network
to train, which may continue an earlier fit (``warm_start``, ``partial_fit``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from nnforge.metrics import GREATER_IS_BETTER, scores
from nnforge.model import Model
from nnforge.nn import Network, backends
from nnforge.nn.backends import EpochRunner
from nnforge.training.evaluation import EpochMetrics, FoldResult

__all__ = ["GroupOutcome", "Measurement", "ReplicaData", "train_replicas"]

Inverter = Callable[[np.ndarray], np.ndarray]


@dataclass
class ReplicaData:
    """Arrays for a group of R folds, padded along the row axis to the largest fold.

    Shapes: ``x_*`` (R, rows, n_inputs), ``y_*`` (R, rows, n_outputs); ``n_*`` (R,) are the true
    row counts. ``y_valid_true`` is the validation target in original units (per-class one-hot
    rows for a class target), and ``pipelines[r]`` is fold r's fitted pipeline as JSON (plain
    data, so a worker process gets it with the arrays), which maps its outputs back to original
    units (per-class probabilities for a class target); ``None``: the outputs are already in
    original units. ``w_train`` (R, rows) are optional non-negative sample weights. A group whose
    ``n_valid`` are all zero is not validated (its fold results have no scores). ``task`` picks
    the metrics.
    """

    folds: list[int]
    net_seeds: list[int]
    shuffle_seeds: list[int]
    x_train: np.ndarray
    y_train: np.ndarray
    n_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    y_valid_true: np.ndarray
    n_valid: np.ndarray
    pipelines: list[str] | None
    x_monitor: np.ndarray | None = None
    y_monitor: np.ndarray | None = None
    n_monitor: np.ndarray | None = None
    n_dropped: list[int] = field(default_factory=list)
    rows_per_epoch: int = 0  # rows each fold visits per epoch: the largest fold over ALL groups
    w_train: np.ndarray | None = None
    task: str = "regression"
    y_monitor_true: np.ndarray | None = None  # original units, for a metric-based early stop

    @property
    def replicas(self) -> int:
        """Number of folds in this group."""
        return len(self.folds)

    @cached_property
    def inverters(self) -> list[Inverter]:
        """Per fold: preprocessed outputs -> original units (parsed once, where training runs)."""
        if self.pipelines is None:
            return [np.asarray] * self.replicas
        from nnforge.data import Pipeline

        return [Pipeline.from_json(text).invert_predictions for text in self.pipelines]


@dataclass(frozen=True)
class Measurement:
    """Held-out metrics of a group after one epoch, one entry per replica.

    ``val_loss``/``val_loss_std`` (R,) in model units; ``scores`` maps each metric of the task
    (``r2``, ``mae``, or ``accuracy``, ``balanced_accuracy``, ``log_loss``, ``roc_auc``) to its
    (R,) values in original units; ``predictions[r]`` (n_valid[r], n_outputs) in original units
    (per-class probabilities for a class target).
    """

    val_loss: np.ndarray
    val_loss_std: np.ndarray
    scores: dict[str, np.ndarray]
    predictions: list[np.ndarray]


@dataclass
class GroupOutcome:
    """What a group sends back: final parameters, fold results and held-out predictions."""

    folds: list[int]
    params: np.ndarray
    results: list[FoldResult]
    valid_pred: list[np.ndarray]


def _padded_order(rng: np.random.Generator, n: int, n_max: int) -> np.ndarray:
    order = rng.permutation(n)
    return order if n == n_max else np.concatenate([order, order[: n_max - n]])


def _masked_mean_std(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over the first ``counts[r]`` entries of each row of ``values`` (R, n)."""
    mask = np.arange(values.shape[1])[None, :] < counts[:, None]
    mean = np.where(mask, values, 0.0).sum(axis=1) / counts
    var = np.where(mask, (values - mean[:, None]) ** 2, 0.0).sum(axis=1) / counts
    return mean, np.sqrt(var)


def _score_replicas(
    task: str, y_true: np.ndarray, pred: np.ndarray, counts: np.ndarray, inverters
) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Every metric of ``task`` per replica, on each replica's first ``counts[r]`` rows."""
    per_replica, originals = [], []
    for r, inv in enumerate(inverters):
        n = counts[r]
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged fold gives inf/NaN
            orig = inv(pred[r, :n])
            per_replica.append(scores(task, y_true[r, :n], orig))
        originals.append(orig)
    names = per_replica[0].keys()
    return {k: np.array([s[k] for s in per_replica]) for k in names}, originals


class _Validator:
    """Held-out metrics for a group: loss in model units, the task's metrics in original units."""

    def __init__(self, data: ReplicaData) -> None:
        self.data = data

    def measure(self, runner: EpochRunner) -> Measurement:
        """Loss, metrics and predictions of every replica on its held-out rows."""
        d = self.data
        pred = runner.predict(d.x_valid)  # on the backend's device; fixed row chunks in NumPy
        row_loss = runner.net.loss(d.y_valid, pred)  # (R, V)
        val_loss, val_std = _masked_mean_std(row_loss.astype(np.float64), d.n_valid)
        metric, originals = _score_replicas(d.task, d.y_valid_true, pred, d.n_valid, d.inverters)
        return Measurement(val_loss, val_std, metric, originals)


class _EarlyStopper:
    """Tracks the monitored loss per replica and keeps each replica's best parameters.

    ``metric`` is ``"loss"`` (or ``"log_loss"``, which is the loss of a class target) or a metric
    name, measured in original units and negated when greater is better, so lower is better.
    """

    def __init__(
        self, net: Network, data: ReplicaData, patience: int, min_delta: float, metric: str
    ) -> None:
        self.data = data
        self.metric = metric
        self.patience = patience
        self.min_delta = min_delta
        self.best_loss = np.full(data.replicas, np.inf)
        self.best_epoch = np.zeros(data.replicas, dtype=int)  # counted from 1; 0: none yet
        self.best_weights = [[w.copy() for w in net.replica_view(r)] for r in range(data.replicas)]
        self.wait = np.zeros(data.replicas, dtype=int)

    def update(self, runner: EpochRunner, epoch: int, active: np.ndarray) -> np.ndarray:
        """Record this epoch for the ``active`` replicas; return the monitored loss."""
        d, net = self.data, runner.net
        pred = runner.predict(d.x_monitor)
        if self.metric in ("loss", "log_loss"):
            loss, _ = _masked_mean_std(net.loss(d.y_monitor, pred), d.n_monitor)
        else:
            metric, _ = _score_replicas(d.task, d.y_monitor_true, pred, d.n_monitor, d.inverters)
            loss = -metric[self.metric] if GREATER_IS_BETTER[self.metric] else metric[self.metric]
        for r in np.flatnonzero(active):
            if loss[r] < self.best_loss[r] - self.min_delta:
                self.best_loss[r], self.best_epoch[r], self.wait[r] = loss[r], epoch, 0
                for best, weights in zip(self.best_weights[r], net.replica_view(r), strict=True):
                    best[...] = weights
            else:
                self.wait[r] += 1
        return loss

    def exhausted(self, r: int) -> bool:
        """Replica ``r`` has not improved for ``patience`` epochs."""
        return bool(self.wait[r] >= self.patience)

    def restore(self, net: Network, replicas: np.ndarray) -> None:
        """Put back the best epoch's parameters of the given replicas."""
        for r in replicas:
            if self.best_epoch[r] > 0:
                for best, weights in zip(self.best_weights[r], net.replica_view(r), strict=True):
                    weights[...] = best


def train_replicas(
    model: Model,
    data: ReplicaData,
    *,
    report: Callable[[EpochMetrics], None] = lambda m: None,
    should_stop: Callable[[], bool] = lambda: False,
    network: Network | None = None,
) -> GroupOutcome:
    """Train one group of folds for ``model.epochs`` epochs and validate them.

    ``report`` receives every fold's :class:`EpochMetrics` as soon as an epoch ends;
    ``should_stop`` is polled between epochs (Ctrl-C in the parent): training then ends after the
    current epoch and what finished is kept. ``network`` is trained in place (parameters and
    optimizer state) instead of a fresh one built from the spec.
    """
    R = data.replicas
    n_max = max(data.rows_per_epoch, data.x_train.shape[1])
    net = network
    if net is None:
        net = model.build_network(data.x_train.shape[2], seeds=data.net_seeds)
    validated = bool(data.n_valid.any())
    rngs = [np.random.default_rng(s) for s in data.shuffle_seeds]
    batch = min(model.batch_size, n_max)
    runner = backends.get(model.backend)(net).bind(data.x_train, data.y_train, batch, data.w_train)
    validator = _Validator(data)
    stopper = None
    if model.early_stopping is not None and data.x_monitor is not None:
        es = model.early_stopping
        stopper = _EarlyStopper(net, data, es.patience, es.min_delta, model.monitor_metric)

    active = np.ones(R, dtype=bool)
    status = ["completed"] * R
    messages: list[str | None] = [None] * R
    epochs_run = np.zeros(R, dtype=int)
    last_metrics: Measurement | None = None
    last_metrics_epoch = -1
    epoch = -1

    # Overflow is not an error here: a diverging fold is detected from its loss, stopped and
    # reported by name ("loss became non-finite"), instead of a wall of RuntimeWarnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(model.epochs):
            if should_stop():
                for r in np.flatnonzero(active):
                    status[r] = "interrupted"
                epoch -= 1  # the last epoch that ran
                break
            order = np.stack(
                [
                    _padded_order(rng, int(n), n_max)
                    for rng, n in zip(rngs, data.n_train, strict=True)
                ]
            )
            train_loss = runner.run_epoch(order)

            last_epoch = epoch == model.epochs - 1
            validate = validated and (
                last_epoch or (model.validate_every > 0 and (epoch + 1) % model.validate_every == 0)
            )
            metrics = validator.measure(runner) if validate else None
            if metrics is not None:
                last_metrics, last_metrics_epoch = metrics, epoch
            monitor = stopper.update(runner, epoch + 1, active) if stopper else None
            opt = net.optimizers[0]
            lr = float(opt.learning_rate(max(opt.iterations - 1, 0)))

            for r in np.flatnonzero(active):
                epochs_run[r] = epoch + 1
                m = EpochMetrics(
                    fold=data.folds[r],
                    epoch=epoch + 1,  # counted from 1, as people count them
                    train_loss=float(train_loss[r]),
                    val_loss=None if metrics is None else float(metrics.val_loss[r]),
                    val_loss_std=None if metrics is None else float(metrics.val_loss_std[r]),
                    lr=lr,
                    monitor_loss=None if monitor is None else float(monitor[r]),
                    **({} if metrics is None else _replica_scores(metrics, r)),
                )
                report(m)
                if not math.isfinite(m.train_loss):
                    active[r] = False
                    status[r] = "diverged"
                    messages[r] = (
                        f"fold {data.folds[r]}: loss became non-finite at epoch {epoch + 1}"
                    )
                elif stopper is not None and stopper.exhausted(r):
                    active[r] = False
                    status[r] = "early_stopping"
            if not active.any():
                break

    if stopper is not None:
        stopper.restore(net, np.arange(R))
    # The held-out predictions must come from the parameters that are kept: measure again
    # unless the last epoch run was just measured (and no best epoch was restored).
    fresh = stopper is None and last_metrics is not None and last_metrics_epoch == epoch
    final = last_metrics if fresh or not validated else validator.measure(runner)
    results = []
    for r in range(R):
        results.append(
            FoldResult(
                fold=data.folds[r],
                n_train=int(data.n_train[r]),
                n_valid=int(data.n_valid[r]),
                n_dropped=int(data.n_dropped[r]) if data.n_dropped else 0,
                n_monitor=0 if data.n_monitor is None else int(data.n_monitor[r]),
                epochs_run=int(epochs_run[r]),
                best_epoch=None if stopper is None else int(stopper.best_epoch[r]),
                stopped=status[r],
                message=messages[r],
                **({} if status[r] == "diverged" or final is None else _replica_scores(final, r)),
            )
        )
    return GroupOutcome(
        folds=list(data.folds),
        params=net.params.copy(),
        results=results,
        valid_pred=[] if final is None else list(final.predictions),
    )


def _replica_scores(measured: Measurement, r: int) -> dict[str, float]:
    return {name: float(values[r]) for name, values in measured.scores.items()}
