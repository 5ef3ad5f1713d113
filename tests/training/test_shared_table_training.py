"""Folds trained from the one shared table train exactly as from a transformed copy per fold.

The reference is the layout the trainer used before (issue 15): each fold's pipeline fitted on a
copy of its rows, its rows transformed and cast to the model dtype, the folds' arrays stacked,
and batches taken from them as they are. The trainer's run must give the same losses and
held-out predictions bit for bit.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from training_problem import make_frame, make_model

from nnforge.data import DatasetSpec, FilterOutliers, Missing, Normalized, Out, Pipeline, derive
from nnforge.data.fitting import one_hot_vocabulary
from nnforge.training import split_rows, train, trainers
from nnforge.training.loop import ReplicaData, train_replicas
from nnforge.training.trainers import _seed_ints


def dirty_problem():
    """The synthetic problem with missing cells (median fill) and outliers (Tukey filter)."""
    frame = make_frame(300).with_columns(
        pl.when(pl.int_range(pl.len()) % 17 == 3)
        .then(None)
        .otherwise(pl.col("noise"))
        .alias("noise"),
        pl.when(pl.int_range(pl.len()) % 50 == 7).then(40.0).otherwise(pl.col("x1")).alias("x1"),
    )
    spec = (
        DatasetSpec.from_frame(frame, name="dirty")
        .add_opt_to("price", Out)
        .add_opt_to("noise", Missing("median"))
        .add_opt(FilterOutliers.only(["x1"]))
        .add_opt(Normalized.incl_added_features())
    )
    return frame, make_model(dataset=spec.validated(), epochs=4)


def per_fold_copies(model, frame) -> ReplicaData:
    """Every fold as its own transformed arrays, stacked: the trainer's former layout."""
    derived = derive(model.dataset, frame)
    seeds = np.random.SeedSequence(model.seed).spawn(4)
    valid_sets = split_rows(model.trainer, derived.height, np.random.default_rng(seeds[0]))
    k = len(valid_sets)
    vocabulary = one_hot_vocabulary(model.dataset, derived)
    xs, ys, train_rows, valid_rows, truth, pipelines, start = [], [], [], [], [], [], 0
    for valid in valid_sets:
        rows = np.setdiff1d(np.arange(derived.height), valid)
        pipe = Pipeline(model.dataset).fit(derived[rows], vocabulary=vocabulary)
        _, xt, yt = pipe.to_arrays(pipe.transform(derived[rows], training=True), model.dtype)
        _, xv, yv = pipe.to_arrays(pipe.transform(derived[valid]), model.dtype)
        xs += [xt, xv]
        ys += [yt, yv]
        train_rows.append(start + np.arange(len(xt)))
        valid_rows.append(start + len(xt) + np.arange(len(xv)))
        start += len(xt) + len(xv)
        truth.append(pipe.inverse_transform_outputs(yv.astype(np.float64)))
        pipelines.append(pipe.to_json())
    return ReplicaData(
        folds=list(range(k)),
        net_seeds=_seed_ints(seeds[1], k),
        shuffle_seeds=_seed_ints(seeds[2], k),
        x=np.concatenate(xs),
        y=np.concatenate(ys),
        train_rows=train_rows,
        valid_rows=valid_rows,
        y_valid_true=truth,
        pipelines=pipelines,
        rows_per_epoch=max(len(r) for r in train_rows),
    )


@pytest.mark.parametrize("layout", ["shared", "copies"])
def test_shared_table_trains_bit_for_bit_like_per_fold_copies(monkeypatch, layout):
    # a small table gets transformed copies per fold; force the shared table for the other case
    if layout == "shared":
        monkeypatch.setattr(trainers, "_COPY_BYTES", 0)
    frame, model = dirty_problem()
    run = train(model, frame, workers=2, progress=False)
    reference = per_fold_copies(model, frame)
    assert any(f.n_dropped for f in run.evaluation.folds)  # the row filter is exercised
    history = []
    outcome = train_replicas(model, reference, report=history.append)
    for r, fold in enumerate(run.evaluation.folds):
        assert fold.n_train == len(reference.train_rows[r])
        got = run.predictions.filter(pl.col("fold") == r)["price_pred"].to_numpy()
        np.testing.assert_array_equal(got, outcome.valid_pred[r][:, 0])
    want = sorted((m.fold, m.epoch, m.train_loss, m.val_loss) for m in history)
    got = sorted((m.fold, m.epoch, m.train_loss, m.val_loss) for m in run.evaluation.history)
    assert got == want
