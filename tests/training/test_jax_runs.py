"""The JAX backend through the trainer: same folds, batch order and numbers as NumPy, and run
directories that either backend loads and predicts with."""

from __future__ import annotations

import sys

import numpy as np
import polars as pl
import pytest
from training_problem import make_model

from nnforge.cli import main
from nnforge.model import EarlyStopping, LayerSpec
from nnforge.nn import Adam, InverseTimeDecay, Momentum
from nnforge.training import Run, train


def _train(model, frame, **kwargs):
    return train(model, frame, progress=False, **kwargs)


def _assert_same_run(a, b, rtol: float = 1e-9) -> None:
    for net_a, net_b in zip(a.networks, b.networks, strict=True):
        scale = np.abs(net_a.params).max()
        np.testing.assert_allclose(net_b.params, net_a.params, rtol=rtol, atol=1e-12 * scale)
    for fa, fb in zip(a.evaluation.folds, b.evaluation.folds, strict=True):
        assert (fa.n_train, fa.n_valid, fa.epochs_run, fa.best_epoch, fa.stopped) == (
            fb.n_train,
            fb.n_valid,
            fb.epochs_run,
            fb.best_epoch,
            fb.stopped,
        )
    ha, hb = a.evaluation.history_frame(), b.evaluation.history_frame()
    assert ha["fold"].to_list() == hb["fold"].to_list()
    for column in ("train_loss", "val_loss", "r2", "lr"):
        np.testing.assert_allclose(hb[column].to_numpy(), ha[column].to_numpy(), rtol=rtol)
    assert a.predictions["fold"].to_list() == b.predictions["fold"].to_list()
    np.testing.assert_allclose(
        b.predictions["price_pred"].to_numpy(), a.predictions["price_pred"].to_numpy(), rtol=rtol
    )


@pytest.mark.parametrize(
    "changes",
    [
        {
            "optimizer": Adam(
                learning_rate=InverseTimeDecay(
                    initial_learning_rate=0.01, decay_steps=10, decay_rate=0.3
                ),
                weight_decay=1e-3,
            )
        },
        {
            "optimizer": Momentum(learning_rate=0.01, nesterov=True),
            "early_stopping": EarlyStopping(patience=1, validation_fraction=0.2),
            "validate_every": 2,
        },
    ],
    ids=["adam_schedule_l2", "nesterov_early_stopping"],
)
def test_jax_trains_the_same_folds_in_the_same_order_as_numpy(frame, changes):
    model = make_model(dtype="float64", epochs=3, **changes)
    reference = _train(model, frame, workers=2)  # results do not depend on the workers
    compiled = _train(model.with_overrides(backend="jax"), frame, workers=2)
    assert compiled.evaluation.summary["workers"] == 1  # one compiled call over all folds
    _assert_same_run(reference, compiled)


def test_dropout_gives_the_same_validation_loss_within_noise(frame):
    """Masks come from JAX's PRNG, not NumPy's: compare the mean over seeds, not the bits."""
    layers = [
        LayerSpec(units=16, activation="relu", dropout=0.2),
        LayerSpec(units=1, activation="linear", dropout=0.1),
    ]
    losses = {"numpy": [], "jax": []}
    for seed in range(5):
        model = make_model(layers=layers, epochs=15, seed=seed, trainer={"name": "kfolds", "k": 2})
        for backend in losses:
            run = _train(model.with_overrides(backend=backend), frame, workers=1)
            last = run.evaluation.history_frame().filter(pl.col("epoch") == 14)
            losses[backend].append(last["val_loss"].mean())
    a, b = np.array(losses["numpy"]), np.array(losses["jax"])
    noise = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / len(a))
    assert abs(a.mean() - b.mean()) < 3 * noise, (a, b)
    assert not np.allclose(a, b, rtol=1e-6)  # the masks really differ


@pytest.mark.parametrize(("trained", "predicted"), [("jax", "numpy"), ("numpy", "jax")])
def test_a_run_directory_predicts_with_the_other_backend(frame, tmp_path, trained, predicted):
    model = make_model(epochs=4, backend=trained)
    _train(model, frame, out_dir=tmp_path / "run")
    run = Run.load(tmp_path / "run")
    assert run.model.backend == trained
    oof = run.predictions
    for fold in range(3):
        rows = oof.filter(pl.col("fold") == fold)
        again = run.predict(rows.drop("price_pred", "fold", "row"), fold=fold, backend=predicted)
        np.testing.assert_allclose(again["price_pred"], rows["price_pred"], rtol=1e-5)


def test_cli_backend_flag_and_missing_jax(frame, tmp_path, capsys, monkeypatch):
    data = tmp_path / "data.csv"
    frame.write_csv(data)
    spec = tmp_path / "spec.json"
    make_model(epochs=2).to_json_file(spec)
    out = tmp_path / "run"
    argv = ["train", str(spec), "--data", str(data), "--out", str(out), "--quiet"]
    assert main([*argv, "--backend", "jax"]) == 0
    assert Run.load(out).model.backend == "jax"

    monkeypatch.setitem(sys.modules, "jax", None)  # as if JAX were not installed
    monkeypatch.delitem(sys.modules, "nnforge.nn.backends.jax_backend")
    capsys.readouterr()
    assert main([*argv, "--backend", "jax"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2  # the error on one line, then the hint
    assert "pip install 'nnforge[jax]'" in err[0]
