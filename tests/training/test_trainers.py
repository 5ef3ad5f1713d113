"""K-fold and split training end to end on a small synthetic problem."""

from __future__ import annotations

import io
import json
import os
import signal

import numpy as np
import polars as pl
import pytest
from training_problem import make_frame, make_model

from nnforge.exceptions import DivergenceError, NNForgeError
from nnforge.model import EarlyStopping, KFolds, Split
from nnforge.nn import SGD, Network
from nnforge.training import LambdaCallback, ProgressBar, Run, split_rows, train


def _train(model, frame, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("workers", 1)
    return train(model, frame, **kwargs)


def test_kfold_run_directory_has_every_file(model, frame, tmp_path):
    out = tmp_path / "run"
    result = _train(model, frame, out_dir=out)
    k, epochs = 3, model.epochs
    expected = ["spec.json", "evaluation.json", "history.csv", "log.txt"]
    expected += ["predictions.csv", "predictions.parquet", "models/best.safetensors"]
    expected += [f"pipelines/fold_{i}.json" for i in range(k)]
    expected += [f"models/fold_{i}.{ext}" for i in range(k) for ext in ("safetensors", "json")]
    for name in expected:
        assert (out / name).is_file(), name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left

    summary = json.loads((out / "evaluation.json").read_text())["summary"]
    assert summary["oof_r2"] > 0.95
    assert summary["best_fold"] == int(np.argmax([f.r2 for f in result.evaluation.folds]))
    history = pl.read_csv(out / "history.csv")
    assert history.height == k * epochs
    assert history["fold"].unique().sort().to_list() == [0, 1, 2]
    # Validation loss decreases while training.
    first, last = (history.filter(pl.col("epoch") == e)["val_loss"].mean() for e in (1, epochs))
    assert last < first / 5
    log_lines = (out / "log.txt").read_text().splitlines()
    assert sum(line.startswith("fold ") and " epoch " in line for line in log_lines) == k * epochs


def test_out_of_fold_predictions_cover_every_row_once_in_original_units(model, frame):
    result = _train(model, frame)
    pred = result.predictions
    assert pred.height == frame.height
    assert pred["row"].to_list() == list(range(1, frame.height + 1))  # file order, 1-based rows
    assert pred["fold"].value_counts()["count"].to_list() == [200, 200, 200]
    # Original units: the same values as the input, predictions on the same (dollar) scale.
    np.testing.assert_array_equal(pred["price"].to_numpy(), frame["price"].to_numpy())
    err = np.abs(pred["price_pred"] - pred["price"]).to_numpy()
    assert np.median(err) < 40  # price spans 1000..2100
    assert result.summary["oof_r2"] == pytest.approx(
        1 - np.sum(err**2) / np.sum((pred["price"] - pred["price"].mean()).to_numpy() ** 2)
    )


def test_pipelines_are_fitted_on_training_rows_only(model, frame):
    result = _train(model, frame)
    ranges = []
    for fold, pipeline in enumerate(result.pipelines):
        train_rows = result.predictions.filter(pl.col("fold") != fold)
        scaler = pipeline.scalers_["x1"]
        # min-max learned from the fold's training rows, not all rows
        lo, hi = train_rows["x1"].min(), train_rows["x1"].max()
        assert (scaler.lo, scaler.hi) == (lo, hi)
        ranges.append((lo, hi))
    # the fold holding the overall minimum (or maximum) never saw it
    assert len(set(ranges)) > 1


def test_same_seed_same_numbers_and_workers_do_not_change_them(model, frame):
    one = _train(model, frame, workers=1)
    again = _train(model, frame, workers=1)
    two = _train(model, frame, workers=2)
    for other in (again, two):
        np.testing.assert_array_equal(
            one.predictions["price_pred"].to_numpy(), other.predictions["price_pred"].to_numpy()
        )
    other_seed = _train(model.with_overrides(seed=4), frame)
    assert not np.array_equal(
        one.predictions["price_pred"].to_numpy(), other_seed.predictions["price_pred"].to_numpy()
    )


def test_folds_start_from_their_own_fresh_weights(model, frame):
    # With a zero learning rate the trained weights are the initial ones.
    result = _train(model.with_overrides(epochs=1, optimizer=SGD(learning_rate=0.0)), frame)
    for fold, net in enumerate(result.networks):
        fresh = Network.from_config(net.get_config())  # initialised from the fold's own seed
        np.testing.assert_array_equal(net.params, fresh.params)
        for other in result.networks[fold + 1 :]:
            assert not np.allclose(net.layers[0].kernel, other.layers[0].kernel)


def test_split_trainer_predicts_the_validation_share(frame):
    result = _train(make_model(trainer=Split(ratio=0.75)), frame)
    assert result.predictions.height == 150
    assert len(result.networks) == 1
    assert result.summary["oof_r2"] > 0.9


def test_early_stopping_restores_the_best_epoch_and_uses_inner_rows(frame):
    model = make_model(
        epochs=400, early_stopping=EarlyStopping(patience=3, validation_fraction=0.2)
    )
    result = _train(model, frame)
    for fold in result.evaluation.folds:
        assert fold.stopped == "early_stopping"
        assert fold.epochs_run < 400
        assert 1 <= fold.best_epoch < fold.epochs_run  # epochs are counted from 1
        # monitor rows come out of the training rows, never the held-out fold
        assert (fold.n_monitor, fold.n_train, fold.n_valid) == (80, 320, 200)
    history = result.evaluation.history_frame()
    for fold in result.evaluation.folds:
        rows = history.filter(pl.col("fold") == fold.fold)
        assert rows["epoch"][rows["monitor_loss"].arg_min()] == fold.best_epoch
        assert rows["epoch"][0] == 1


def test_divergence_names_fold_and_epoch_and_writes_nothing(frame, tmp_path):
    model = make_model(optimizer=SGD(learning_rate=1e6), epochs=5)
    with pytest.raises(DivergenceError, match=r"fold \d: loss became non-finite at epoch \d"):
        _train(model, frame, out_dir=tmp_path / "run")
    assert list(tmp_path.iterdir()) == []  # no run directory, no staging folder


def test_callbacks_and_plain_progress_lines(model, frame):
    seen, ended = [], []
    stream = io.StringIO()
    cb = LambdaCallback(on_epoch_end=seen.append, on_fold_end=ended.append)
    _train(model, frame, callbacks=[cb, ProgressBar(stream, log_every=0.0)])
    assert len(seen) == 3 * model.epochs
    assert sorted(r.fold for r in ended) == [0, 1, 2]
    lines = stream.getvalue().splitlines()
    assert any("fold-epochs" in line for line in lines)
    assert "\r" not in stream.getvalue()  # not a terminal: plain lines


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_cleanly_and_keeps_what_finished(model, frame, tmp_path, workers):
    def interrupt(m):
        if m.epoch == 4 and m.fold == 0:
            os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "run"
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN under nohup/&
    result = _train(
        model.with_overrides(epochs=5000),
        frame,
        workers=workers,
        out_dir=out,
        callbacks=[LambdaCallback(on_epoch_end=interrupt)],
    )
    assert result.summary["interrupted"]
    assert all(f.stopped == "interrupted" for f in result.evaluation.folds)
    assert all(f.epochs_run < 5000 for f in result.evaluation.folds)
    assert (out / "predictions.csv").is_file()
    assert signal.getsignal(signal.SIGINT) is before


def test_run_predicts_new_rows_with_the_fold_ensemble(model, frame, tmp_path):
    _train(model, frame, out_dir=tmp_path / "run")
    run = Run.load(tmp_path / "run")
    new = make_frame(50, seed=9).drop("price")
    ensemble = run.predict(new)
    assert ensemble.columns == [*new.columns, "price_pred", "price_pred_std"]
    per_fold = np.stack([run.predict(new, fold=i)["price_pred"].to_numpy() for i in range(3)])
    np.testing.assert_allclose(ensemble["price_pred"].to_numpy(), per_fold.mean(axis=0))
    np.testing.assert_allclose(ensemble["price_pred_std"].to_numpy(), per_fold.std(axis=0))
    truth = make_frame(50, seed=9)["price"].to_numpy()
    assert np.abs(ensemble["price_pred"].to_numpy() - truth).mean() < 40
    # The saved best model is the best fold's network.
    best = Network.load(tmp_path / "run" / "models" / "best")
    np.testing.assert_array_equal(best.params, run.networks[run.best_fold].params)


def test_k_larger_than_rows_is_rejected(frame):
    with pytest.raises(ValueError, match="folds need at least"):
        _train(make_model(trainer=KFolds(k=5)), frame.head(3))


@pytest.mark.parametrize("interrupt_at", [None, 9])
def test_saved_fold_models_reproduce_the_out_of_fold_predictions(frame, tmp_path, interrupt_at):
    def interrupt(m):
        if interrupt_at is not None and m.epoch == interrupt_at and m.fold == 0:
            os.kill(os.getpid(), signal.SIGINT)

    model = make_model(epochs=40, validate_every=7)
    out = tmp_path / "run"
    _train(model, frame, out_dir=out, callbacks=[LambdaCallback(on_epoch_end=interrupt)])
    run = Run.load(out)
    oof = run.predictions
    for fold in range(3):
        rows = oof.filter(pl.col("fold") == fold)
        again = run.predict(rows.drop("price_pred", "fold", "row"), fold=fold)
        np.testing.assert_allclose(again["price_pred"], rows["price_pred"], rtol=1e-5)


def test_split_rows_follow_the_trainer_spec():
    folds = split_rows(KFolds(k=3), 10, np.random.default_rng(0))
    assert sorted(np.concatenate(folds).tolist()) == list(range(10))  # each row held out once
    assert [len(f) for f in folds] == [4, 3, 3]
    (valid,) = split_rows(Split(ratio=0.8), 10, np.random.default_rng(0))
    assert len(valid) == 2
    with pytest.raises(TypeError, match="must be KFolds or Split"):
        split_rows(EarlyStopping(), 10, np.random.default_rng(0))


def test_the_in_memory_run_is_the_saved_run(model, frame, tmp_path):
    result = _train(model, frame, out_dir=tmp_path / "run")
    assert result.path == tmp_path / "run"
    loaded = Run.load(tmp_path / "run")
    assert loaded.model == result.model
    assert loaded.best_fold == result.best_fold
    assert loaded.predictions.equals(result.predictions)
    spec = json.loads((tmp_path / "run" / "spec.json").read_text())
    spec["optimizer"] = {"name": "adamw"}  # what a spec of another version could hold
    (tmp_path / "run" / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(NNForgeError, match="older nnforge version"):
        Run.load(tmp_path / "run")


def test_baselines_are_fitted_in_the_runs_own_folds(model, frame):
    result = _train(model, frame)
    baselines = result.summary["baselines"]
    # the mean predictor by hand: each held-out row gets the mean price of its fold's training rows
    pred = result.predictions
    y = pred["price"].to_numpy()
    folds = pred["fold"].to_numpy()
    guess = np.array([y[folds != f].mean() for f in folds])
    assert baselines["mean"]["mae"] == pytest.approx(np.abs(guess - y).mean())
    assert baselines["mean"]["r2"] == pytest.approx(1 - ((y - guess) ** 2).sum() / y.var() / len(y))
    # price = 1000 + 800 x1 + 300 x2² + noise: least squares on x1, x2, x2² is nearly exact
    assert baselines["linear"]["r2"] > 0.99
    assert baselines["linear"]["mae"] < 10


def test_model_in_words():
    from nnforge.nn import Adam, InverseTimeDecay

    model = make_model(
        optimizer=Adam(learning_rate=InverseTimeDecay(0.001, 10, 0.5), weight_decay=1e-5)
    )
    words = model.describe(n_inputs=4)
    assert words["network"] == "16 relu -> 1 linear"
    assert words["schedule"] == "lr 0.001 with inverse time decay (rate 0.5 per 10 steps)"
    assert words["trainer"] == "3 folds x 25 epochs, batch 32"
    assert model.sentence(4).startswith("16 relu -> 1 linear; adam, lr 0.001 with inverse")
    steps = [kind for kind, _ in model.dataset.steps()]
    assert steps == ["add square", "scale (minmax, fitted per fold)"]
