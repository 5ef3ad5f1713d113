import math

import numpy as np
import pytest

from nnforge.nn import SGD, Adam, InverseTimeDecay, Momentum, optimizers


def _run(optimizer, grads, p0=1.0):
    """Apply ``optimizer`` to a one-parameter float64 segment; return p after each step."""
    param = np.array([p0])
    history = []
    for g in grads:
        optimizer.step(param, np.array([g]))
        history.append(float(param[0]))
    return history


def test_sgd():
    assert _run(SGD(0.1), [0.5, -1.0, 2.0]) == pytest.approx([0.95, 1.05, 0.85], abs=1e-15)


def test_momentum_keras_semantics():
    # v = 0.9 v - 0.1 g; p += v, with g = 0.5: v = -0.05, -0.095, -0.1355
    assert _run(Momentum(0.1, 0.9), [0.5] * 3) == pytest.approx([0.95, 0.855, 0.7195], abs=1e-15)


def test_momentum_nesterov():
    # v1 = -0.05; p1 = 1 + 0.9 * v1 - 0.1 * 0.5 = 0.905
    assert _run(Momentum(0.1, 0.9, nesterov=True), [0.5]) == pytest.approx([0.905], abs=1e-15)


def test_adam_matches_hand_computed_steps():
    grads = [0.5, -1.0, 2.0]
    # Kingma and Ba's textbook form; Keras' epsilon is added to sqrt(v), i.e. to
    # sqrt(v_hat) * sqrt(1 - beta_2**t), hence the eps_hat below.
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-7
    p, m, v, expected = 1.0, 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        eps_hat = eps / math.sqrt(1 - b2**t)
        p -= lr * m_hat / (math.sqrt(v_hat) + eps_hat)
        expected.append(p)
    got = _run(Adam(lr), grads)
    assert got == pytest.approx(expected, rel=1e-14)
    # Worked by hand (t = 1, 2, 3). At t = 2: m = -0.055, v = 0.00124975,
    # alpha = 0.1 * sqrt(1 - 0.999**2) / (1 - 0.9**2) = 0.0235317, step = alpha * m / sqrt(v)
    # = -0.0366102. The seed's 1 - beta correction agrees at t = 1 but not from t = 2 on.
    assert got == pytest.approx([0.9000006, 0.9366109, 0.8946454], abs=1e-7)


def test_adam_defaults_are_keras():
    adam = Adam()
    assert (adam.learning_rate(0), adam.beta_1, adam.beta_2, adam.epsilon) == (
        0.001,
        0.9,
        0.999,
        1e-7,
    )


def test_weight_decay_on_masked_entries_only():
    param, grad = np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 0.0])
    opt = SGD(0.1, weight_decay=0.5)
    opt.step(param, grad, decay_mask=np.array([1.0, 0.0, 1.0]))
    np.testing.assert_allclose(param, [1 - 0.1 * 0.5 * 1, 2.0, 3 - 0.1 * 0.5 * 3])
    opt.weight_decay = 0.0  # the cached scaled mask follows the setting
    opt.step(param, np.zeros(3), decay_mask=np.array([1.0, 0.0, 1.0]))
    np.testing.assert_allclose(param, [1 - 0.1 * 0.5 * 1, 2.0, 3 - 0.1 * 0.5 * 3])


def test_schedule_is_indexed_by_iterations():
    opt = SGD(InverseTimeDecay(0.1, decay_steps=1, decay_rate=1.0))
    # lr = 0.1 / (1 + step): 0.1, 0.05, 0.0333...
    assert _run(opt, [1.0, 1.0, 1.0]) == pytest.approx([0.9, 0.85, 0.85 - 0.1 / 3], abs=1e-15)
    assert opt.iterations == 3


def test_slots_are_lazy_flat_and_per_element():
    adam = Adam()
    assert adam.slots == []
    param = np.zeros(7, dtype=np.float32)
    adam.step(param, np.ones(7, dtype=np.float32))
    assert [s.shape for s in adam.slots] == [(7,), (7,)]
    assert all(s.dtype == np.float32 for s in adam.slots)
    adam.reset()
    assert adam.slots == []
    assert adam.iterations == 0


@pytest.mark.parametrize(
    "opt",
    [SGD(0.2), Momentum(0.01, 0.8, weight_decay=1e-4), Adam(InverseTimeDecay(0.01, 10, 0.5))],
)
def test_config_round_trip(opt):
    config = opt.get_config()
    clone = optimizers.get(config)
    assert type(clone) is type(opt)
    assert clone.get_config() == config


def test_get_and_errors():
    assert isinstance(optimizers.get("adam"), Adam)
    assert isinstance(optimizers.get({"name": "momentum", "learning_rate": 0.1}), Momentum)
    with pytest.raises(ValueError, match=r"valid names are \['adam', 'momentum', 'sgd'\]"):
        optimizers.get("rmsprop")
    with pytest.raises(TypeError, match="invalid arguments for optimizer 'adam'"):
        optimizers.get({"name": "adam", "beta3": 0.5})
    with pytest.raises(ValueError, match=r"`beta_1` must be in \[0, 1\). Received: beta_1=1.0"):
        Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="Received: learning_rate=-1"):
        SGD(-1)
    assert repr(SGD(0.5)) == "SGD(learning_rate=0.5, weight_decay=0.0)"
