"""The JAX backend against the NumPy reference: the same network, rows and batch order.

Float64, no dropout: after 3 epochs every parameter agrees to 1e-9 relative, for every
optimizer (with L2 and schedules), loss and activation. With dropout the masks come from JAX's
PRNG, so only statistics can agree (tested in ``tests/training/test_backends.py``).
"""

from __future__ import annotations

import sys

import jax
import numpy as np
import pytest

from nnforge.nn import Dense, Network, backends

R, ROWS, N_IN = 3, 203, 4  # 203 rows, batch 32: six full batches and a short one per epoch


def _problem(loss: str, n_out: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(R, ROWS, N_IN))
    if loss == "mse":
        return x, rng.normal(size=(R, ROWS, n_out))
    if loss == "binary_crossentropy":
        return x, (rng.random((R, ROWS, n_out)) < 0.4).astype(float)
    return x, np.eye(n_out)[rng.integers(0, n_out, (R, ROWS))]


def _train(backend: str, net: Network, x, y, epochs: int = 3, batch: int = 32, weights=None):
    runner = backends.get(backend)(net).bind(x, y, batch, weights)
    orders = np.random.default_rng(7)
    losses = []
    for _ in range(epochs):
        order = np.stack([orders.permutation(ROWS) for _ in range(R)])
        losses.append(runner.run_epoch(order))
    return runner, np.array(losses)


def _assert_same_training(make_net, loss: str, n_out: int, weights=None) -> None:
    x, y = _problem(loss, n_out)
    ref, ref_losses = _train("numpy", make_net(), x, y, weights=weights)
    got, got_losses = _train("jax", make_net(), x, y, weights=weights)
    scale = np.abs(ref.net.params).max()
    np.testing.assert_allclose(got.net.params, ref.net.params, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(got_losses, ref_losses, rtol=1e-9)
    assert [o.iterations for o in got.net.optimizers] == [o.iterations for o in ref.net.optimizers]
    np.testing.assert_allclose(got.predict(x), ref.predict(x), rtol=1e-9, atol=1e-12)


OPTIMIZERS = {
    "sgd": {"name": "sgd", "learning_rate": 0.05},
    "sgd_l2": {"name": "sgd", "learning_rate": 0.05, "weight_decay": 0.01},
    "momentum": {"name": "momentum", "learning_rate": 0.02, "momentum": 0.9},
    "nesterov_l2": {
        "name": "momentum",
        "learning_rate": 0.02,
        "momentum": 0.8,
        "nesterov": True,
        "weight_decay": 0.003,
    },
    "adam": {"name": "adam", "learning_rate": 0.01},
    "adam_l2_inverse_time": {
        "name": "adam",
        "learning_rate": {
            "name": "inverse_time_decay",
            "initial_learning_rate": 0.01,
            "decay_steps": 7,
            "decay_rate": 0.5,
        },
        "beta_1": 0.8,
        "epsilon": 1e-6,
        "weight_decay": 1e-3,
    },
    "sgd_staircase": {
        "name": "sgd",
        "learning_rate": {
            "name": "inverse_time_decay",
            "initial_learning_rate": 0.1,
            "decay_steps": 7,
            "decay_rate": 1.0,
            "staircase": True,
        },
    },
    "momentum_piecewise": {
        "name": "momentum",
        "learning_rate": {
            "name": "piecewise_constant",
            "boundaries": [5, 12],
            "values": [0.05, 0.02, 0.01],
        },
    },
}


@pytest.mark.parametrize("optimizer", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_parity_with_numpy_for_every_optimizer_and_schedule(optimizer):
    def make():
        layers = [
            Dense(6, "tanh", kernel_initializer="he_normal", bias_initializer="uniform"),
            Dense(5, "relu", kernel_initializer="he_uniform"),
            Dense(2, "linear"),
        ]
        return Network(N_IN, layers, optimizer=optimizer, replicas=R, dtype="float64", seed=4)

    _assert_same_training(make, "mse", 2)


LOSSES = {  # loss, output activation, outputs; the first three fuse activation and loss
    "softmax_cce": ("categorical_crossentropy", "softmax", 3),
    "sigmoid_bce": ("binary_crossentropy", "sigmoid", 2),
    "mse_linear": ("mse", "linear", 2),
    "mse_sigmoid": ("mse", "sigmoid", 1),
    "mse_softmax": ("mse", "softmax", 3),
    "bce_of_softmax": ("binary_crossentropy", "softmax", 3),
    "cce_of_sigmoid": ("categorical_crossentropy", "sigmoid", 3),
}


@pytest.mark.parametrize(("loss", "output", "n_out"), LOSSES.values(), ids=LOSSES.keys())
def test_parity_with_numpy_for_every_loss_and_activation(loss, output, n_out):
    def make():
        layers = [
            Dense(6, "sigmoid", bias_initializer="signed_uniform"),
            Dense(5, "linear", kernel_initializer="uniform"),
            Dense(n_out, output, optimizer={"name": "sgd", "learning_rate": 0.1}),
        ]
        return Network(
            N_IN, layers, loss=loss, optimizer="adam", replicas=R, dtype="float64", seed=9
        )

    _assert_same_training(make, loss, n_out)


def test_parity_with_sample_weights_and_zero_padded_rows():
    weights = np.random.default_rng(3).uniform(0.5, 2.0, (R, ROWS))
    weights[1, 150:] = 0  # replica 1 has fewer rows: its padding weighs nothing
    weights[2, :40] = 0  # so do whole batches of replica 2

    def make():
        return Network(
            N_IN,
            [Dense(6, "relu"), Dense(1)],
            optimizer="momentum",
            replicas=R,
            dtype="float64",
            seed=5,
        )

    _assert_same_training(make, "mse", 1, weights)


def test_float32_training_matches_numpy_to_float32_rounding():
    x, y = _problem("mse", 1)
    x, y = x.astype("float32"), y.astype("float32")

    def make():
        return Network(N_IN, [Dense(8, "relu"), Dense(1)], optimizer="adam", replicas=R, seed=2)

    ref, ref_losses = _train("numpy", make(), x, y)
    got, got_losses = _train("jax", make(), x, y)
    assert got.net.params.dtype == np.float32
    np.testing.assert_allclose(got.net.params, ref.net.params, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_losses, ref_losses, rtol=1e-4)


def test_float64_is_scoped_and_leaves_the_global_jax_config_alone():
    before = jax.config.jax_enable_x64
    x, y = _problem("mse", 1)
    net = Network(N_IN, [Dense(3, "tanh"), Dense(1)], replicas=R, dtype="float64", seed=0)
    runner, _ = _train("jax", net, x, y, epochs=1)
    assert runner.predict(x).dtype == np.float64
    assert jax.config.jax_enable_x64 == before


def test_predict_takes_shared_rows_and_uses_the_current_params():
    x, y = _problem("mse", 1)
    net = Network(N_IN, [Dense(3, "tanh"), Dense(1)], replicas=R, dtype="float64", seed=0)
    runner, _ = _train("jax", net, x, y, epochs=1)
    np.testing.assert_allclose(runner.predict(x[0]), net.predict(x[0]), rtol=1e-12)
    net.params[:] = 0  # e.g. early stopping restores other parameters
    assert not runner.predict(x[0]).any()


def test_dropout_masks_come_from_the_replica_seed():
    x, y = _problem("mse", 1)

    def make(rate):
        layers = [Dense(16, "relu", dropout=rate), Dense(1, dropout=rate)]
        return Network(N_IN, layers, optimizer="adam", replicas=R, dtype="float64", seed=1)

    a, _ = _train("jax", make(0.3), x, y, epochs=2)
    b, _ = _train("jax", make(0.3), x, y, epochs=2)
    np.testing.assert_array_equal(a.net.params, b.net.params)
    c, _ = _train("jax", make(0.0), x, y, epochs=2)
    assert not np.allclose(a.net.params, c.net.params)


@pytest.mark.parametrize(("first", "then"), [("numpy", "jax"), ("jax", "numpy"), ("jax", "jax")])
@pytest.mark.parametrize("optimizer", ["adam_l2_inverse_time", "nesterov_l2"])
def test_training_continues_across_backends_with_the_optimizer_state(first, then, optimizer):
    """2 epochs with one backend, then 2 with another == 4 with NumPy (warm_start, partial_fit)."""
    x, y = _problem("mse", 2)

    def make():
        layers = [Dense(5, activation="tanh"), Dense(2)]
        return Network(
            N_IN, layers, optimizer=OPTIMIZERS[optimizer], replicas=R, dtype="float64", seed=1
        )

    orders = np.random.default_rng(7)
    order = [np.stack([orders.permutation(ROWS) for _ in range(R)]) for _ in range(4)]
    ref = backends.get("numpy")(make()).bind(x, y, 32)
    for o in order:
        ref.run_epoch(o)
    net = make()
    for name, epochs in ((first, order[:2]), (then, order[2:])):
        runner = backends.get(name)(net).bind(x, y, 32)
        for o in epochs:
            runner.run_epoch(o)
    scale = np.abs(ref.net.params).max()
    np.testing.assert_allclose(net.params, ref.net.params, rtol=1e-9, atol=1e-12 * scale)
    for got, want in zip(net.optimizers, ref.net.optimizers, strict=True):
        assert got.iterations == want.iterations
        for a, b in zip(got.slots, want.slots, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * np.abs(b).max())


def test_unknown_backend_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"\['numpy', 'jax'\]"):
        backends.get("torch")


def test_missing_jax_is_one_line_saying_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` now raises ImportError
    monkeypatch.delitem(sys.modules, "nnforge.nn.backends.jax_backend", raising=False)
    with pytest.raises(backends.BackendUnavailableError) as info:
        backends.get("jax")
    message = str(info.value)
    assert "\n" not in message
    assert "pip install 'nnforge[jax]'" in message
