"""The linear baseline read chunk by chunk equals least squares on the whole design (issue 15).

The reference is what the baseline did before: ``np.linalg.lstsq`` on ``[x, 1]`` of each fold's
preprocessed training rows, held as one array.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from training_problem import make_frame, make_model

from nnforge.data import DatasetSpec, FilterOutliers, Missing, Normalized, OneHot, Out
from nnforge.metrics import mean_absolute_error, r2_score
from nnforge.training import baselines, train, trainers


def lstsq_predict(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """The former baseline: least squares on the whole design at once."""
    a = np.hstack([x.astype(np.float64), np.ones((len(x), 1))])
    coef, *_ = np.linalg.lstsq(a, y.astype(np.float64), rcond=None)
    return np.hstack([x_new.astype(np.float64), np.ones((len(x_new), 1))]) @ coef


def chunked_predict(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, chunk: int) -> np.ndarray:
    def chunks():
        return ((x[i : i + chunk], y[i : i + chunk]) for i in range(0, len(x), chunk))

    coef = baselines.least_squares(chunks)
    return np.hstack([x_new, np.ones((len(x_new), 1))]) @ coef


def designs(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Inputs of n rows: full rank, and rank deficient in the ways preprocessed tables are."""
    u = rng.uniform(0, 1, (n, 4))
    one_hot = np.eye(3)[rng.integers(0, 3, n)]  # the three indicators sum to the intercept
    return {
        "full rank": u,
        "duplicate column": np.column_stack([u, u[:, 1]]),
        "sum of columns": np.column_stack([u, u[:, 0] + u[:, 2]]),  # sqft_living = above + base
        "zero column": np.column_stack([u, np.zeros(n)]),  # a fold-constant column, scaled
        "constant column": np.column_stack([u, np.full(n, 0.25)]),
        "one-hot": np.column_stack([u, one_hot]),
        "nearly collinear": np.column_stack([u, u[:, 3] + 1e-4 * rng.normal(size=n)]),
    }


@pytest.mark.parametrize("name", list(designs(np.random.default_rng(0), 10)))
@pytest.mark.parametrize("chunk", [7, 64, 10_000])
def test_chunked_least_squares_equals_lstsq_on_the_whole_design(name, chunk):
    rng = np.random.default_rng(1)
    x = designs(rng, 500)[name]
    x_new = designs(np.random.default_rng(2), 200)[name]  # the same structure, other rows
    beta = rng.normal(size=(x.shape[1], 2))
    y = x @ beta + 3.0 + rng.normal(0, 0.1, (500, 2))  # two outputs
    expected = lstsq_predict(x, y, x_new)
    got = chunked_predict(x, y, x_new, chunk)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-11 * np.abs(expected).max())
    fitted = chunked_predict(x, y, x, chunk)
    np.testing.assert_allclose(fitted, lstsq_predict(x, y, x), rtol=1e-11)


def test_zero_column_gets_no_weight_as_with_lstsq():
    # A column constant on the training rows is scaled to 0 there but not on held-out rows: its
    # coefficient must be the minimum-norm one (0), or held-out predictions would move with it.
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.uniform(0, 1, (300, 3)), np.zeros(300)])
    y = x[:, :1] * 5 + rng.normal(0, 0.1, (300, 1))
    x_new = np.column_stack([rng.uniform(0, 1, (50, 3)), np.full(50, 7.0)])
    expected = lstsq_predict(x, y, x_new)
    np.testing.assert_allclose(chunked_predict(x, y, x_new, 16), expected, rtol=1e-12)


def test_least_squares_refuses_no_rows():
    with pytest.raises(ValueError, match="no rows"):
        baselines.least_squares(lambda: iter(()))


def rank_deficient_problem():
    """Missing cells (median fill), outliers (Tukey filter), a duplicated input, an input
    constant in the file, and a one-hot category: a design lstsq must treat as rank deficient."""
    frame = make_frame(400)
    n = frame.height
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 17 == 3)
        .then(None)
        .otherwise(pl.col("noise"))
        .alias("noise"),
        pl.when(pl.int_range(pl.len()) % 50 == 7).then(40.0).otherwise(pl.col("x1")).alias("x1"),
        pl.col("x2").alias("x2_copy"),
        pl.lit(5.0).alias("flat"),
        pl.Series("zone", np.array(["a", "b", "c"])[np.arange(n) % 3]),
    )
    spec = (
        DatasetSpec.from_frame(frame, name="rank deficient")
        .add_opt_to("price", Out)
        .add_opt_to("noise", Missing("median"))
        .add_opt_to("zone", OneHot())
        .add_opt(FilterOutliers.only(["x1"]))
        .add_opt(Normalized.only(["x1", "x2", "x2_copy", "noise", "flat", "price"]))
    )
    return frame, make_model(dataset=spec.validated(), epochs=1)


def test_trainer_baseline_equals_lstsq_on_each_folds_preprocessed_rows(monkeypatch):
    frame, model = rank_deficient_problem()
    monkeypatch.setattr(baselines, "_CHUNK_ROWS", 29)  # many chunks per fold
    seen = {}

    def spy(folds, rows):
        seen["folds"], seen["rows"] = folds, rows
        return baselines.baseline_scores(folds, rows)

    monkeypatch.setattr(trainers, "baseline_scores", spy)
    run = train(model, frame, progress=False, workers=1)
    truth, mean_pred, linear_pred = [], [], []
    for f in seen["folds"]:
        x_train, y_train = seen["rows"](f, f.train_rows)  # the fold's rows as one array
        x_valid, _ = seen["rows"](f, f.valid_rows)
        assert x_train.shape[1] == 8  # x1, x2, x2_copy, noise, flat, 3 zone indicators
        original = f.pipeline.inverse_transform_outputs(y_train.astype(np.float64))
        truth.append(f.y_valid_true)
        mean_pred.append(np.broadcast_to(original.mean(axis=0), f.y_valid_true.shape))
        linear = lstsq_predict(x_train, y_train, x_valid)
        linear_pred.append(f.pipeline.invert_predictions(linear))
    y = np.concatenate(truth)
    got = run.summary["baselines"]
    for name, pred in (("mean", mean_pred), ("linear", linear_pred)):
        p = np.concatenate(pred)
        assert got[name]["r2"] == pytest.approx(r2_score(y, p), rel=1e-12, abs=1e-12)
        assert got[name]["mae"] == pytest.approx(mean_absolute_error(y, p), rel=1e-12)
