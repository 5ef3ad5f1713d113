"""Training a model spec: rows split per the spec's trainer, preprocessing per fold, folds
trained together, one :class:`~nnforge.training.Run`.

Every fold fits its own :class:`~nnforge.data.Pipeline` on its training rows only, builds a fresh
network from the spec with its own seed (derived from the run's seed), trains, and is validated
on its held-out rows in original units.

Folds train simultaneously as replicas of one network (see :mod:`nnforge.training.loop`). With
more than one worker, the folds are divided into groups and each group trains in its own process
with one BLAS thread (:mod:`nnforge.training.workers`): on this workload (tiny matrices, per-call
overhead dominated) a process per core beats BLAS threads, and replicas beat separate networks
(see ``benchmarks/``). The folds' rows come from :func:`~nnforge.training.splits.split_rows`; the
summary and the out-of-fold predictions from :mod:`nnforge.training.summary`.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from nnforge.data import Pipeline, derive, drop_missing_targets, read_table
from nnforge.data.fitting import one_hot_vocabulary
from nnforge.data.targets import resolve_classes
from nnforge.datasets import units_of
from nnforge.exceptions import DivergenceError, SpecError
from nnforge.model import Model
from nnforge.nn import Network, backends
from nnforge.training.baselines import FoldRows, baseline_scores
from nnforge.training.callbacks import Callback, CallbackList, EpochLogger, ProgressBar, TrainInfo
from nnforge.training.evaluation import (
    EpochMetrics,
    Evaluation,
    FoldResult,
    check_finite_summary,
)
from nnforge.training.loop import GroupOutcome, ReplicaData, train_replicas
from nnforge.training.processes import available_cores, graceful_stop
from nnforge.training.run import Run, save_run
from nnforge.training.rundir import claim_run_dir, staging_dir
from nnforge.training.splits import split_rows, stratified_holdout
from nnforge.training.summary import (
    classification_summary,
    join_predictions,
    prediction_columns,
    regression_summary,
)
from nnforge.training.workers import run_in_workers

__all__ = ["FoldData", "Trainer", "check_data", "check_targets", "train"]

logger = logging.getLogger(__name__)


@dataclass
class FoldData:
    """One fold: its fitted pipeline and its rows of the shared table (no arrays of its own).

    ``train_rows`` are the rows it trains on after its row filters, ``valid_rows`` its held-out
    rows, ``monitor_rows`` early stopping's rows (all sorted row numbers of the derived frame).
    """

    fold: int
    pipeline: Pipeline
    train_rows: np.ndarray
    valid_rows: np.ndarray
    n_dropped: int
    monitor_rows: np.ndarray | None = None
    valid_ids: np.ndarray | None = None
    y_valid_true: np.ndarray | None = None
    missing_classes: list[str] = field(default_factory=list)


@dataclass
class _Table:
    """The model-input matrix every fold shares (Pipeline.encode of the derived frame)."""

    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class _Context:
    """What ``_evaluate`` needs besides the folds and the group outcomes."""

    source: pl.DataFrame | str | Path  # the data as given (predictions are joined to its rows)
    n_rows: int  # rows after derive
    n_inputs: int
    net_seeds: list[int]
    history: list[EpochMetrics]
    baselines: dict[str, Any] | None = None  # regression: computed while the table exists


def _seed_ints(seed_seq: np.random.SeedSequence, n: int) -> list[int]:
    return [int(child.generate_state(1)[0]) for child in seed_seq.spawn(n)]


class Trainer:
    """Trains a model spec: the spec's trainer (:func:`split_rows`) chooses each fold's rows."""

    def __init__(
        self,
        model: Model,
        *,
        workers: int | None = None,
        callbacks: Iterable[Callback] = (),
        progress: bool = True,
        cache: bool | str | Path = True,
    ) -> None:
        self.model = model
        self.workers = workers
        self.callbacks = list(callbacks)
        self.progress = progress
        self.cache = cache

    # -- preprocessing -----------------------------------------------------------------------

    def _prepare_fold(
        self,
        fold: int,
        frame: pl.DataFrame,
        valid_rows: np.ndarray,
        rng: np.random.Generator,
        vocabulary: dict[str, dict[str, int]] | None = None,
        classes: np.ndarray | None = None,
    ) -> FoldData:
        """Fit fold ``fold``'s pipeline on its training rows (without copying them) and list
        the rows it trains on after its row filters."""
        model = self.model
        is_valid = np.zeros(frame.height, dtype=bool)
        is_valid[valid_rows] = True
        train_rows = np.flatnonzero(~is_valid)
        monitor_rows = None
        if model.early_stopping is not None:
            fraction = model.early_stopping.validation_fraction
            if classes is not None:  # keep the class mix in the monitored rows too
                held, rest = stratified_holdout(classes[train_rows], fraction, rng)
                monitor_rows, train_rows = train_rows[held], train_rows[rest]
            else:
                shuffled = rng.permutation(train_rows)
                n_monitor = max(1, round(len(train_rows) * fraction))
                monitor_rows = np.sort(shuffled[:n_monitor])
                train_rows = np.sort(shuffled[n_monitor:])
        pipeline = Pipeline(model.dataset).fit(frame, vocabulary=vocabulary, rows=train_rows)
        kept = train_rows[pipeline.training_mask(frame)[train_rows]]
        labels = pipeline.class_labels_ or []
        present = set() if classes is None else set(classes[train_rows].tolist())
        return FoldData(
            fold=fold,
            pipeline=pipeline,
            train_rows=kept,
            valid_rows=np.sort(valid_rows),
            n_dropped=len(train_rows) - len(kept),
            monitor_rows=monitor_rows,
            missing_classes=[v for i, v in enumerate(labels) if i not in present],
        )

    def _table(self, frame: pl.DataFrame, folds: Sequence[FoldData]) -> _Table:
        """The shared model-input matrix; each fold's held-out ids and targets in original
        units (through the model dtype, as the fold's own arrays would give them). The model
        columns of ``frame`` are consumed: the table replaces them."""
        ids, x, y = folds[0].pipeline.encode(frame, consume=True)
        dtype = np.dtype(self.model.dtype)
        for f in folds:
            f.pipeline.check_encoded(ids, x, y, dtype)
            _, y_steps = f.pipeline.column_steps()
            check_targets(self.model, f.pipeline, y_steps.apply(y[f.train_rows]).astype(dtype))
            y_valid = y_steps.apply(y[f.valid_rows]).astype(dtype)
            f.valid_ids = ids[f.valid_rows]
            f.y_valid_true = f.pipeline.inverse_transform_outputs(y_valid.astype(np.float64))
        return _Table(ids, x, y)

    def _group_data(
        self,
        table: _Table,
        folds: Sequence[FoldData],
        net_seeds,
        shuffle_seeds,
        rows_per_epoch: int,
        copies: bool,
    ) -> ReplicaData:
        """One group's data: the shared table with each fold's steps, or (``copies``, small
        tables) each fold's rows already transformed, in the model dtype."""
        steps = [f.pipeline.column_steps() for f in folds]
        monitor = None if folds[0].monitor_rows is None else [f.monitor_rows for f in folds]
        monitor_true = None
        if monitor is not None and self.model.monitor_metric not in ("loss", "log_loss"):
            dtype = np.dtype(self.model.dtype)
            monitor_true = [
                f.pipeline.inverse_transform_outputs(s[1].apply(table.y[rows]).astype(dtype))
                for f, s, rows in zip(folds, steps, monitor, strict=True)
            ]
        data = ReplicaData(
            folds=[f.fold for f in folds],
            net_seeds=[net_seeds[f.fold] for f in folds],
            shuffle_seeds=[shuffle_seeds[f.fold] for f in folds],
            x=table.x,
            y=table.y,
            train_rows=[f.train_rows for f in folds],
            valid_rows=[f.valid_rows for f in folds],
            y_valid_true=[f.y_valid_true for f in folds],
            pipelines=[f.pipeline.to_json() for f in folds],
            x_steps=[s[0] for s in steps],
            y_steps=[s[1] for s in steps],
            monitor_rows=monitor,
            n_dropped=[f.n_dropped for f in folds],
            rows_per_epoch=rows_per_epoch,
            task=self.model.task,
            monitor_true=monitor_true,
        )
        return _transformed_copies(data, self.model.dtype) if copies else data

    # -- running -----------------------------------------------------------------------------

    def fit(self, data: pl.DataFrame | str | Path, *, out_dir: str | Path | None = None) -> Run:
        """Preprocess, train every fold, evaluate, and (if ``out_dir``) write the run directory.

        The run directory appears only once complete: nothing is left behind when training
        fails, and a run whose folds all diverged raises :class:`DivergenceError` instead.
        ``out_dir`` is checked and locked before any work (see :mod:`nnforge.training.rundir`).
        """
        backends.get(self.model.backend)  # a missing optional backend fails now, in one line
        if out_dir is None:
            return self._fit(data, None)
        with claim_run_dir(out_dir) as path:
            return self._fit(data, path)

    def _fit(self, data: pl.DataFrame | str | Path, out_dir: Path | None) -> Run:
        start = time.perf_counter()
        # From a path, derive() reuses its on-disk cache (key: spec + file content). The file
        # itself is read again only to join the predictions, once training is over.
        frame = derive(self.model.dataset, data, cache=self.cache)
        # One-hot columns from the whole file's category names: the same in every fold.
        vocabulary = one_hot_vocabulary(self.model.dataset, frame)
        frame, no_target = drop_missing_targets(self.model.dataset, frame)
        if no_target:
            _note_missing_targets(self.model, no_target)
        # The class list comes from the whole file (like the one-hot vocabulary), so every fold
        # has the same outputs; the run's spec records it.
        dataset = resolve_classes(self.model.dataset, frame)
        if dataset is not self.model.dataset:
            self.model = self.model.with_dataset(dataset)
        model = self.model
        classes = _class_codes(model, frame)
        n_rows = frame.height
        seeds = np.random.SeedSequence(model.seed).spawn(4)
        split_rng = np.random.default_rng(seeds[0])
        valid_sets = split_rows(model.trainer, n_rows, split_rng, classes)
        k = len(valid_sets)
        net_seeds, shuffle_seeds = _seed_ints(seeds[1], k), _seed_ints(seeds[2], k)
        fold_rngs = [np.random.default_rng(s) for s in seeds[3].spawn(k)]
        folds = [
            self._prepare_fold(i, frame, rows, fold_rngs[i], vocabulary, classes)
            for i, rows in enumerate(valid_sets)
        ]
        notes = _missing_class_notes(folds)
        for note in notes:
            logger.warning("%s", note)
        _check_same_columns(folds)
        table = self._table(frame, folds)
        del frame  # the folds share `table`; the derived frame is no longer needed
        baselines = None
        if model.task != "classification":
            with threadpool_limits(1):  # as training: 2 BLAS threads on a busy machine thrash
                baselines = baseline_scores(folds, _fold_rows(table, folds, model.dtype))
        n_inputs = table.x.shape[1]
        workers = self._workers(k)
        groups = [list(g) for g in np.array_split(np.arange(k), workers)]
        rows_per_epoch = max(len(f.train_rows) for f in folds)
        itemsize = np.dtype(model.dtype).itemsize
        copies = k * table.x.shape[0] * (n_inputs + table.y.shape[1]) * itemsize <= _COPY_BYTES
        group_data = [
            self._group_data(
                table, [folds[i] for i in g], net_seeds, shuffle_seeds, rows_per_epoch, copies
            )
            for g in groups
        ]
        del table

        callbacks = list(self.callbacks)
        if self.progress:
            callbacks.append(ProgressBar())
        staging = None if out_dir is None else staging_dir(out_dir)
        try:
            if staging is not None:
                callbacks.append(EpochLogger(staging / "log.txt"))
            cb = CallbackList(callbacks)
            target = model.dataset.out_features_names()[0]
            unit = units_of(model.dataset).get(target)
            info = TrainInfo(k, model.epochs, n_rows, n_inputs, workers, target, unit)
            cb.on_train_begin(info)
            history: list[EpochMetrics] = []

            def report(m: EpochMetrics) -> None:
                history.append(m)
                cb.on_epoch_end(m)

            outcomes = self._run_groups(group_data, report, cb)
            del group_data  # the shared table goes: the predictions are joined next
            context = _Context(data, n_rows, n_inputs, net_seeds, history, baselines)
            result = self._evaluate(folds, outcomes, context)
            evaluation = result.evaluation
            evaluation.summary["wall_seconds"] = round(time.perf_counter() - start, 3)
            evaluation.summary["workers"] = workers
            evaluation.summary["n_no_target"] = len(no_target)
            if notes:
                evaluation.summary["notes"] = notes
            cb.on_train_end(evaluation)
            if all(f.stopped == "diverged" for f in evaluation.folds):
                raise DivergenceError("; ".join(f.message or "" for f in evaluation.folds))
            check_finite_summary(evaluation.summary)
            if staging is not None:
                save_run(result, out_dir, staging=staging)
        finally:
            if staging is not None and staging.exists():  # only when something failed
                shutil.rmtree(staging, ignore_errors=True)
        return result

    def _workers(self, k: int) -> int:
        if self.model.backend != "numpy":  # one compiled call over all folds, threads inside
            return 1
        if self.workers is not None:
            return max(1, min(int(self.workers), k))
        return max(1, min(available_cores(), k))  # the cores this process may use

    def _run_groups(self, groups: list[ReplicaData], report, cb: Callback) -> list[GroupOutcome]:
        if len(groups) == 1:
            stop = threading.Event()
            with graceful_stop(stop), threadpool_limits(1):
                outcome = train_replicas(
                    self.model, groups[0], report=report, should_stop=stop.is_set
                )
            for res in outcome.results:
                cb.on_fold_end(res)
            return [outcome]
        return run_in_workers(self.model, groups, report, cb)  # empties `groups`

    def _evaluate(
        self, folds: Sequence[FoldData], outcomes: Sequence[GroupOutcome], context: _Context
    ) -> Run:
        """Fold networks, out-of-fold predictions and the summary, as an in-memory run."""
        model = self.model
        by_fold: dict[int, tuple[FoldResult, np.ndarray]] = {}
        networks: dict[int, Network] = {}
        for outcome in outcomes:
            seeds = [context.net_seeds[f] for f in outcome.folds]
            group_net = model.build_network(context.n_inputs, seeds=seeds)
            group_net.params[:] = outcome.params
            for r, (res, pred) in enumerate(zip(outcome.results, outcome.valid_pred, strict=True)):
                by_fold[res.fold] = (res, pred)
                networks[res.fold] = group_net.replica(r)
        results = [by_fold[f.fold][0] for f in folds]
        id_col = folds[0].pipeline.id_column
        pred_frames, y_true, y_pred = [], [], []
        for f in folds:
            res, pred = by_fold[f.fold]
            cols = {id_col: f.valid_ids, **prediction_columns(model, f.pipeline, pred)}
            cols["fold"] = np.full(len(pred), f.fold, dtype=np.int64)
            pred_frames.append(pl.DataFrame(cols))
            if res.stopped != "diverged":
                y_true.append(f.y_valid_true)
                y_pred.append(pred)
        source = context.source
        if not isinstance(source, pl.DataFrame):
            source = read_table(source, **model.dataset.read_options())
        predictions = join_predictions(source, pl.concat(pred_frames), id_col)
        history = sorted(context.history, key=lambda m: (m.fold, m.epoch))
        fold_networks = [networks[f.fold] for f in folds]
        pipelines = [f.pipeline for f in folds]
        if model.task == "classification":
            summary = classification_summary(model, folds, results, y_true, y_pred)
            summary["n_rows"], summary["n_predicted"] = context.n_rows, predictions.height
            summary["n_inputs"] = context.n_inputs
        else:
            summary = regression_summary(
                model,
                folds,
                results,
                y_true,
                y_pred,
                n_rows=context.n_rows,
                n_inputs=context.n_inputs,
                n_predicted=predictions.height,
                baselines=context.baselines,
            )
        evaluation = Evaluation(folds=results, history=history, summary=summary)
        return Run(None, model, pipelines, fold_networks, evaluation, predictions)


def _fold_rows(table: _Table, folds: Sequence[FoldData], dtype) -> FoldRows:
    """``rows(fold, row_ids)``: those rows of the shared table with the fold's steps applied,
    in the model dtype (copies of a chunk, never of the fold)."""
    steps = {f.fold: f.pipeline.column_steps() for f in folds}

    def rows(f: FoldData, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x_steps, y_steps = steps[f.fold]
        return (
            x_steps.apply(table.x[ids]).astype(dtype),
            y_steps.apply(table.y[ids]).astype(dtype),
        )

    return rows


# Below this size (all folds' rows in the model dtype, e.g. King County's 8 folds: 24 MB), every
# fold gets its rows transformed once: a batch is then a bare np.take, and an epoch runs ~15 %
# faster than with the steps applied at gather time (benchmarks/scale_bench.py). Above it, the
# folds share the table, and memory no longer grows with k.
_COPY_BYTES = 128 << 20


def _transformed_copies(data: ReplicaData, dtype) -> ReplicaData:
    """``data`` with each fold's rows transformed once into one model-dtype table (bit for bit
    the values the gather-time steps give) and the row lists renumbered into it."""
    xs, ys, start = [], [], 0
    renumbered: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "monitor": []}
    steps = zip(data.x_steps or (), data.y_steps or (), strict=True)
    for r, (x_steps, y_steps) in enumerate(steps):
        lists = {"train": data.train_rows[r], "valid": data.valid_rows[r]}
        if data.monitor_rows is not None:
            lists["monitor"] = data.monitor_rows[r]
        for name, rows in lists.items():
            xs.append(x_steps.apply(data.x[rows]).astype(dtype))
            ys.append(y_steps.apply(data.y[rows]).astype(dtype))
            renumbered[name].append(start + np.arange(len(rows)))
            start += len(rows)
    return dataclasses.replace(
        data,
        x=np.concatenate(xs),
        y=np.concatenate(ys),
        train_rows=renumbered["train"],
        valid_rows=renumbered["valid"],
        monitor_rows=renumbered["monitor"] if data.monitor_rows is not None else None,
        x_steps=None,
        y_steps=None,
    )


def _check_same_columns(folds: Sequence[FoldData]) -> None:
    """Every fold must encode the same model columns: they share one table."""
    names = [tuple(f.pipeline.input_features_) for f in folds]
    cats = [(f.pipeline.categories_, f.pipeline.rare_categories_) for f in folds]
    if len(set(names)) != 1 or any(c != cats[0] for c in cats):
        msg = (
            "folds ended up with different input features (a one-hot category missing from "
            "some fold's training rows?). Received: "
            + "; ".join(f"fold {i}: {n}" for i, n in enumerate(names))
        )
        raise SpecError(msg)


def _note_missing_targets(model: Model, ids: list) -> None:
    """Say how many rows were left out for a missing target, and which (``logging``)."""
    target = ", ".join(f"`{n}`" for n in model.dataset.out_features_names())
    shown = ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")
    logger.info(
        "left out %d row(s) whose target %s is missing (%s %s): they neither train nor are scored",
        len(ids),
        target,
        model.dataset.id_name,
        shown,
    )


def _class_codes(model: Model, frame: pl.DataFrame) -> np.ndarray | None:
    """The class index of every row for a class target (for stratified splits), else None."""
    target = model.dataset.class_target
    if target is None:
        return None
    labels = [str(v) for v in model.dataset.features[target].classes.labels]
    codes = frame[target].replace_strict(labels, list(range(len(labels))), return_dtype=pl.Int64)
    return codes.to_numpy()


def _missing_class_notes(folds: Sequence[FoldData]) -> list[str]:
    return [
        f"fold {f.fold}: class(es) {f.missing_classes} have no training rows; this fold's model "
        f"never learns them (use fewer folds or more data)"
        for f in folds
        if f.missing_classes
    ]


def check_targets(model: Model, pipeline: Pipeline, y_train: np.ndarray) -> None:
    """Raise :class:`SpecError` when the loss cannot train on these targets (needs the data:
    binary cross-entropy on a numeric target outside [0, 1])."""
    if model.loss != "binary_crossentropy" or model.task == "classification":
        return
    lo, hi = float(np.min(y_train)), float(np.max(y_train))
    if lo < 0.0 or hi > 1.0:
        msg = (
            f"loss: binary_crossentropy needs targets in [0, 1], but {pipeline.output_features_} "
            f"range over [{lo:g}, {hi:g}] after preprocessing; mark the output as a class target "
            '(`"classes": {}`) or min-max scale it'
        )
        raise SpecError(msg)


def check_data(model: Model, data: pl.DataFrame | str | Path) -> tuple[Model, Pipeline]:
    """Check ``model`` against its data without training (what ``nnforge spec check`` runs).

    Derives the file, learns the classes (the last layer must match their encoding), fits the
    pipeline on every row and checks the targets against the loss. Returns the model with its
    classes filled in and the fitted pipeline.

    Raises
    ------
    SpecError
        A head or loss that cannot train on these outputs, with its JSON path.
    DataError
        The data does not fit the spec (names file, column, row and value).
    """
    frame = derive(model.dataset, data, cache=False)
    vocabulary = one_hot_vocabulary(model.dataset, frame)
    frame, _ = drop_missing_targets(model.dataset, frame)
    dataset = resolve_classes(model.dataset, frame)
    if dataset is not model.dataset:
        model = model.with_dataset(dataset)
    pipeline = Pipeline(model.dataset).fit(frame, vocabulary=vocabulary)
    _, _, y = pipeline.to_arrays(pipeline.transform(frame, training=True), dtype="float64")
    check_targets(model, pipeline, y)
    return model, pipeline


def train(
    model: Model,
    data: pl.DataFrame | str | Path,
    *,
    out_dir: str | Path | None = None,
    workers: int | None = None,
    callbacks: Iterable[Callback] = (),
    progress: bool = True,
    cache: bool | str | Path = True,
) -> Run:
    """Train ``model`` on ``data`` with the trainer its spec names; see :class:`Trainer`."""
    trainer = Trainer(model, workers=workers, callbacks=callbacks, progress=progress, cache=cache)
    return trainer.fit(data, out_dir=out_dir)
