"""Training a class target: stratified folds, classification metrics, probabilities out."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from nnforge.data import Classes, DatasetSpec, Normalized, Out
from nnforge.model import EarlyStopping, KFolds, LayerSpec, Model
from nnforge.training import Run, train


def make_frame(n: int = 300, seed: int = 0) -> pl.DataFrame:
    """Three well separated blobs in (x1, x2) labelled by name; ``noise`` is unrelated."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, n)
    centres = np.array([[0.2, 0.2], [0.8, 0.3], [0.5, 0.8]])
    xy = centres[kind] + rng.normal(0, 0.08, (n, 2))
    names = np.array(["adelie", "chinstrap", "gentoo"])[kind]
    return pl.DataFrame({"x1": xy[:, 0], "x2": xy[:, 1], "noise": rng.uniform(size=n), "sp": names})


def make_model(frame: pl.DataFrame, **changes) -> Model:
    spec = DatasetSpec.from_frame(frame, name="blobs")
    spec.add_opt_to("sp", Out).add_opt_to("sp", Classes())
    spec.add_opt(Normalized.except_(["sp"]))
    base = dict(
        dataset=spec.validated(),
        layers=[LayerSpec(units=8, activation="relu"), LayerSpec(units=3, activation="softmax")],
        loss="categorical_crossentropy",
        optimizer={"name": "adam", "learning_rate": 0.02},
        batch_size=32,
        epochs=30,
        trainer=KFolds(k=3),
        seed=1,
    )
    base.update(changes)
    return Model(**base)


@pytest.fixture(scope="module")
def blobs() -> pl.DataFrame:
    return make_frame()


def test_three_classes_train_with_classification_metrics(blobs, tmp_path):
    model = make_model(blobs)
    result = train(model, blobs, out_dir=tmp_path / "run", progress=False, workers=1)
    s = result.summary
    assert s["task"] == "classification"
    assert s["classes"] == ["adelie", "chinstrap", "gentoo"]
    assert s["oof_accuracy"] > 0.95
    assert 0 < s["oof_log_loss"] < 0.3
    assert "oof_r2" not in s
    assert "oof_roc_auc" not in s
    # the best fold has the lowest log loss (the default metric)
    fold_losses = [f.log_loss for f in result.evaluation.folds]
    assert s["best_fold"] == int(np.argmin(fold_losses))
    pred = result.predictions
    proba = pred.select("sp_proba_adelie", "sp_proba_chinstrap", "sp_proba_gentoo").to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    labels = np.array(["adelie", "chinstrap", "gentoo"])[proba.argmax(axis=1)]
    assert pred["sp_pred"].to_list() == labels.tolist()
    assert np.mean(pred["sp_pred"].to_numpy() == pred["sp"].to_numpy()) == s["oof_accuracy"]
    history = pl.read_csv(tmp_path / "run" / "history.csv")
    assert {"accuracy", "balanced_accuracy", "log_loss"} <= set(history.columns)
    assert "r2" not in history.columns
    # the run's spec records the classes learned from the whole file
    saved = json.loads((tmp_path / "run" / "spec.json").read_text())
    assert saved["dataset"]["features"]["sp"]["classes"]["labels"] == s["classes"]
    new = Run.load(tmp_path / "run").predict(blobs.head(5).drop("sp"))
    assert new["sp_pred"].to_list() == pred["sp_pred"].head(5).to_list()


def test_folds_are_stratified_and_independent_of_workers(blobs):
    model = make_model(blobs, epochs=3)
    one = train(model, blobs, progress=False, workers=1)
    two = train(model, blobs, progress=False, workers=2)
    assert one.predictions.equals(two.predictions)
    counts = one.predictions.group_by("fold", "sp").len().pivot("sp", index="fold")
    shares = blobs["sp"].value_counts().sort("sp")["count"].to_numpy() / 3
    for name, share in zip(["adelie", "chinstrap", "gentoo"], shares, strict=True):
        assert np.all(np.abs(counts[name].to_numpy() - share) <= 1)


def test_binary_integer_target_reports_roc_auc(blobs):
    frame = blobs.with_columns((pl.col("sp") == "gentoo").cast(pl.Int64).alias("sp"))
    model = make_model(
        frame,
        layers=[LayerSpec(units=8, activation="relu"), LayerSpec(units=1, activation="sigmoid")],
        loss="binary_crossentropy",
        early_stopping=EarlyStopping(patience=5),
        metric="accuracy",
    )
    result = train(model, frame, progress=False, workers=1)
    s = result.summary
    assert s["classes"] == [0, 1]
    assert s["metric"] == "accuracy"
    assert s["oof_roc_auc"] > 0.95
    assert result.predictions["sp_pred"].dtype == pl.Int64
    assert {"sp_proba_0", "sp_proba_1"} <= set(result.predictions.columns)


def test_a_class_missing_from_a_fold_is_reported(blobs, caplog):
    rare = blobs.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("rare")).otherwise("sp").alias("sp")
    )
    model = make_model(
        rare,
        epochs=2,
        layers=[LayerSpec(units=8, activation="relu"), LayerSpec(units=4, activation="softmax")],
    )
    with caplog.at_level("WARNING", logger="nnforge"):
        result = train(model, rare, progress=False, workers=1)
    assert "class(es) ['rare'] have no training rows" in caplog.text
    assert len(result.summary["notes"]) == 1


def test_importance_uses_the_run_metric(blobs, tmp_path):
    from nnforge.inspection import run_importance

    model = make_model(blobs)
    train(model, blobs, out_dir=tmp_path / "run", progress=False, workers=1)
    _, groups = run_importance(tmp_path / "run", n_shuffles=3)
    importance = dict(zip(groups["feature"], groups["importance"], strict=True))
    # shuffling a coordinate raises the log loss a lot; the unrelated column barely moves it
    assert importance["x1"] > 0.5
    assert importance["x2"] > 0.5
    assert abs(importance["noise"]) < 0.1
    accuracy = make_model(blobs, metric="accuracy")
    train(accuracy, blobs, out_dir=tmp_path / "acc", progress=False, workers=1)
    _, groups = run_importance(tmp_path / "acc", n_shuffles=3)
    drops = dict(zip(groups["feature"], groups["importance"], strict=True))
    assert 0.2 < drops["x1"] <= 1.0  # an accuracy drop is a share of rows
