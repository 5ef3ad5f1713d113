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

from nnforge.data import affine
from nnforge.data.affine import ColumnSteps
from nnforge.metrics import GREATER_IS_BETTER, scores
from nnforge.model import Model
from nnforge.nn import Network, backends
from nnforge.nn.backends import EpochRunner
from nnforge.nn.backends.numpy_backend import Runner as NumpyRunner
from nnforge.nn.backends.numpy_backend import _take
from nnforge.training.evaluation import EpochMetrics, FoldResult

__all__ = ["GroupOutcome", "Measurement", "ReplicaData", "train_replicas"]

Inverter = Callable[[np.ndarray], np.ndarray]


@dataclass
class ReplicaData:
    """A group of R folds: one table shared by every fold, each fold's rows of it and its steps.

    ``x`` (n_rows, n_inputs) and ``y`` (n_rows, n_outputs) are the same arrays for every fold
    (and, in worker processes started with fork, the same memory): the trainer's are
    :meth:`Pipeline.encode`'s float64 values; arrays already in model units work too.
    ``train_rows[r]``, ``valid_rows[r]`` and ``monitor_rows[r]`` are fold r's row numbers into
    them, after its row filters. ``x_steps[r]`` / ``y_steps[r]`` are fold r's fills, affine maps
    and clips (:class:`~nnforge.data.affine.ColumnSteps`), applied to each batch as it is
    gathered and then cast to the model dtype; ``None``: the values are in model units.
    ``y_valid_true[r]`` (n_valid[r], n_outputs) is the held-out target in original units, and
    ``pipelines[r]`` fold r's fitted pipeline as JSON (plain data, so a worker process gets it
    with the arrays), which maps its outputs back to original units (per-class probabilities
    for a class target; ``y_valid_true`` then holds per-class one-hot rows); ``None``: the outputs
    are already in original units. ``w`` (n_rows,) are optional non-negative sample weights,
    gathered with the rows. A group whose ``valid_rows`` are all empty is not validated (its
    fold results have no scores). ``task`` picks the metrics; ``monitor_true[r]`` are fold r's
    monitored targets in original units, for an early stop on a metric.
    """

    folds: list[int]
    net_seeds: list[int]
    shuffle_seeds: list[int]
    x: np.ndarray
    y: np.ndarray
    train_rows: list[np.ndarray]
    valid_rows: list[np.ndarray]
    y_valid_true: list[np.ndarray]
    pipelines: list[str] | None
    x_steps: list[ColumnSteps] | None = None
    y_steps: list[ColumnSteps] | None = None
    monitor_rows: list[np.ndarray] | None = None
    n_dropped: list[int] = field(default_factory=list)
    rows_per_epoch: int = 0  # rows each fold visits per epoch: the largest fold over ALL groups
    w: np.ndarray | None = None
    task: str = "regression"
    monitor_true: list[np.ndarray] | None = None

    @property
    def replicas(self) -> int:
        """Number of folds in this group."""
        return len(self.folds)

    @property
    def n_train(self) -> np.ndarray:
        return np.array([len(r) for r in self.train_rows], dtype=np.int64)

    @property
    def n_valid(self) -> np.ndarray:
        return np.array([len(r) for r in self.valid_rows], dtype=np.int64)

    @property
    def n_monitor(self) -> np.ndarray | None:
        if self.monitor_rows is None:
            return None
        return np.array([len(r) for r in self.monitor_rows], dtype=np.int64)

    @cached_property
    def inverters(self) -> list[Inverter]:
        """Per fold: preprocessed outputs -> original units (parsed once, where training runs)."""
        if self.pipelines is None:
            return [np.asarray] * self.replicas
        from nnforge.data import Pipeline

        return [Pipeline.from_json(text).invert_predictions for text in self.pipelines]


_TILE_ROWS = 1024  # batches up to this many rows get repeated step arrays (see _Gather._steps)


class _Gather:
    """Rows of the shared table for every replica at once, through each replica's steps.

    One ``np.take`` of the (R, B) row numbers, then one pass of fills, ``(x - offset) / scale``
    and clips over the (R, B, n_cols) float64 values, cast into a buffer of the model dtype
    (buffers are reused per batch size). Without steps, a table already in the model dtype is
    only taken.
    """

    def __init__(self, table: np.ndarray, steps: list[ColumnSteps] | None, dtype) -> None:
        self.table = table
        self.dtype = np.dtype(dtype)
        self.steps = None if steps is None else affine.stack(steps)
        self.fill = steps is not None and any(np.isfinite(s.fill).any() for s in steps)
        self.clip = steps is not None and any(s.clipped for s in steps)
        self._raw: dict[int, np.ndarray] = {}
        self._out: dict[int, np.ndarray] = {}
        self._tiled: dict[int, tuple[np.ndarray, ...]] = {}

    def _steps(self, rows: int) -> tuple[np.ndarray, ...]:
        """The (R, 1, n) step arrays, repeated to (R, rows, n) for training batches: NumPy then
        runs each operation as one contiguous loop instead of one loop per row (~1.5x faster)."""
        steps = self.steps or ()
        if rows > _TILE_ROWS:
            return steps
        tiled = self._tiled.get(rows)
        if tiled is None:
            shape = (steps[0].shape[0], rows, steps[0].shape[2])
            tiled = tuple(np.ascontiguousarray(np.broadcast_to(a, shape)) for a in steps)
            self._tiled[rows] = tiled
        return tiled

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        if self.steps is None and self.table.dtype == self.dtype:
            return _take(self.table, rows, self._out)
        raw = _take(self.table, rows, self._raw)
        if self.steps is not None:
            raw = raw if raw.dtype == np.float64 else raw.astype(np.float64)
            steps = self._steps(rows.shape[1])
            affine.apply_stacked(raw, *steps, fill_missing=self.fill, clip=self.clip)
        if raw.dtype == self.dtype:
            return raw
        out = self._out.get(rows.shape[1])
        if out is None:
            out = self._out[rows.shape[1]] = np.empty(raw.shape, self.dtype)
        np.copyto(out, raw, casting="unsafe")
        return out


def _padded_rows(rows: list[np.ndarray]) -> np.ndarray:
    """(R, max n_r) row numbers; a shorter list is padded with its first row (never scored)."""
    n_max = max(len(r) for r in rows)
    out = np.empty((len(rows), n_max), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
        out[i, len(r) :] = r[0] if len(r) else 0
    return out


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
            per_replica.append(scores(task, y_true[r][:n], orig))
        originals.append(orig)
    names = per_replica[0].keys()
    return {k: np.array([s[k] for s in per_replica]) for k in names}, originals


# Held-out rows are gathered in chunks of this many rows: a multiple of Network.predict's own
# chunk (512), so every row is predicted in the same GEMM shapes as with the whole array.
_EVAL_CHUNK = 1 << 14


class _Heldout:
    """Predictions and per-row losses of every replica on its own held-out rows, in chunks."""

    def __init__(self, data: ReplicaData, rows: list[np.ndarray], dtype) -> None:
        self.rows = _padded_rows(rows)
        self.counts = np.array([len(r) for r in rows], dtype=np.int64)
        self.gx = _Gather(data.x, data.x_steps, dtype)
        self.gy = _Gather(data.y, data.y_steps, dtype)

    def predict(self, runner: EpochRunner) -> tuple[np.ndarray, np.ndarray]:
        """(R, V, n_outputs) predictions in model units and (R, V) row losses."""
        net = runner.net
        R, V = self.rows.shape
        pred = np.empty((R, V, net.n_outputs), net.dtype)
        loss = np.empty((R, V), net.dtype)
        for start in range(0, V, _EVAL_CHUNK):
            rows = self.rows[:, start : start + _EVAL_CHUNK]
            chunk = runner.predict(self.gx(rows))  # on the backend's device
            pred[:, start : start + _EVAL_CHUNK] = chunk
            loss[:, start : start + _EVAL_CHUNK] = net.loss(self.gy(rows), chunk)
        return pred, loss


class _Validator:
    """Held-out metrics for a group: loss in model units, the task's metrics in original units."""

    def __init__(self, data: ReplicaData, dtype) -> None:
        self.data = data
        self.heldout = _Heldout(data, data.valid_rows, dtype)

    def measure(self, runner: EpochRunner) -> Measurement:
        """Loss, metrics and predictions of every replica on its held-out rows."""
        d = self.data
        pred, row_loss = self.heldout.predict(runner)  # fixed row chunks: the same for any grouping
        counts = self.heldout.counts
        val_loss, val_std = _masked_mean_std(row_loss.astype(np.float64), counts)
        metric, originals = _score_replicas(d.task, d.y_valid_true, pred, counts, d.inverters)
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
        self.heldout = _Heldout(data, data.monitor_rows or [], net.dtype)
        self.patience = patience
        self.min_delta = min_delta
        self.best_loss = np.full(data.replicas, np.inf)
        self.best_epoch = np.zeros(data.replicas, dtype=int)  # counted from 1; 0: none yet
        self.best_weights = [[w.copy() for w in net.replica_view(r)] for r in range(data.replicas)]
        self.wait = np.zeros(data.replicas, dtype=int)

    def update(self, runner: EpochRunner, epoch: int, active: np.ndarray) -> np.ndarray:
        """Record this epoch for the ``active`` replicas; return the monitored loss."""
        d, net = self.data, runner.net
        pred, row_loss = self.heldout.predict(runner)
        counts = self.heldout.counts
        if self.metric in ("loss", "log_loss"):
            loss, _ = _masked_mean_std(row_loss, counts)
        else:
            metric, _ = _score_replicas(d.task, d.monitor_true, pred, counts, d.inverters)
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


class _TableRunner(NumpyRunner):
    """The NumPy backend reading the shared table: ``run_epoch``'s ``order`` holds row numbers
    of ``data.x``, and each batch goes through the replicas' column steps (:class:`_Gather`)."""

    def __init__(self, net: Network, data: ReplicaData, batch_size: int, rows: int) -> None:
        super().__init__(net)
        self.batch_size, self.rows = batch_size, rows
        self._gx = _Gather(data.x, data.x_steps, net.dtype)
        self._gy = _Gather(data.y, data.y_steps, net.dtype)
        self._gw = None if data.w is None else _Gather(data.w[:, None], None, net.dtype)

    def run_epoch(self, order: np.ndarray) -> np.ndarray:
        loss_sum = np.zeros(self.net.replicas)
        start = 0
        for size in self._steps(order.shape[1]):
            rows = order[:, start : start + size]
            x, y = self._gx(rows), self._gy(rows)
            w = None if self._gw is None else self._gw(rows)[..., 0]
            loss_sum += self.net.train_step(x, y, w) * size
            start += size
        return loss_sum / order.shape[1]


def _runner(
    model: Model, net: Network, data: ReplicaData, batch: int, n_max: int
) -> tuple[EpochRunner, bool]:
    """The backend's epoch runner and whether its ``order`` holds table row numbers.

    The NumPy backend reads the shared table. Another backend binds per-replica tables (the
    rows of each fold, transformed, padded to the largest): its memory grows with the folds.
    """
    if model.backend == "numpy":
        return _TableRunner(net, data, batch, n_max), True
    rows = _padded_rows(data.train_rows)
    x = _Gather(data.x, data.x_steps, net.dtype)(rows).copy()
    y = _Gather(data.y, data.y_steps, net.dtype)(rows).copy()
    w = None
    if data.w is not None:
        w = np.take(data.w, rows).astype(net.dtype)
        w[np.arange(rows.shape[1])[None, :] >= data.n_train[:, None]] = 0.0  # padding
    return backends.get(model.backend)(net).bind(x, y, batch, w), False


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
    n_train = data.n_train
    n_max = max(data.rows_per_epoch, int(n_train.max()))
    net = network
    if net is None:
        net = model.build_network(data.x.shape[1], seeds=data.net_seeds)
    validated = bool(data.n_valid.any())
    rngs = [np.random.default_rng(s) for s in data.shuffle_seeds]
    batch = min(model.batch_size, n_max)
    runner, by_row = _runner(model, net, data, batch, n_max)
    validator = _Validator(data, net.dtype) if validated else None
    stopper = None
    if model.early_stopping is not None and data.monitor_rows is not None:
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
            order = np.empty((R, n_max), dtype=np.int64)
            for r, (rng, rows) in enumerate(zip(rngs, data.train_rows, strict=True)):
                positions = _padded_order(rng, len(rows), n_max)
                if by_row:  # row numbers of the shared table
                    np.take(rows, positions, out=order[r])
                else:  # positions in the replica's own table
                    order[r] = positions
            train_loss = runner.run_epoch(order)

            last_epoch = epoch == model.epochs - 1
            validate = validated and (
                last_epoch or (model.validate_every > 0 and (epoch + 1) % model.validate_every == 0)
            )
            metrics = validator.measure(runner) if validate and validator is not None else None
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
    final = last_metrics if fresh or validator is None else validator.measure(runner)
    results = []
    for r in range(R):
        results.append(
            FoldResult(
                fold=data.folds[r],
                n_train=int(n_train[r]),
                n_valid=len(data.valid_rows[r]),
                n_dropped=int(data.n_dropped[r]) if data.n_dropped else 0,
                n_monitor=0 if data.monitor_rows is None else len(data.monitor_rows[r]),
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
