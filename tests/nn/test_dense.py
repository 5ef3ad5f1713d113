import numpy as np
import pytest

from nnforge.nn import Dense, Network
from nnforge.nn.layers.dense import augmented


def forward(layer, x, **kwargs):
    """``layer.forward`` on a plain ``x`` (R, B, n_in): augment it, return a fresh output."""
    xa = augmented(*x.shape, x.dtype)
    xa[..., :-1] = x
    out = np.empty((*x.shape[:2], layer.units), x.dtype)
    return layer.forward(xa, out, **kwargs)


def backward(layer, grad):
    """``layer.backward`` returning ``dL/dX`` (R, B, n_in)."""
    dxa = np.zeros((*grad.shape[:2], layer.n_inputs + 1), grad.dtype)
    layer.backward(grad, dxa)
    return dxa[..., :-1]


def _layer(activation, replicas, n_in=4, units=3, dropout=0.0):
    """A float64 Dense layer built (and randomly initialised) by a one-layer network."""
    net = Network(
        n_in,
        [Dense(units, activation, bias_initializer="signed_uniform", dropout=dropout)],
        replicas=replicas,
        dtype="float64",
        seed=7,
    )
    return net.layers[0]


@pytest.mark.parametrize("activation", ["linear", "tanh", "relu", "sigmoid", "softmax"])
@pytest.mark.parametrize("replicas", [1, 3])
def test_dense_gradients_match_finite_differences(activation, replicas, rng, numgrad):
    layer = _layer(activation, replicas)
    x = rng.normal(size=(replicas, 5, 4))
    c = rng.normal(size=(replicas, 5, 3))  # L = sum(c * Y)

    def loss():
        return float((c * forward(layer, x)).sum())

    forward(layer, x, training=True)
    dx = backward(layer, c.copy())
    np.testing.assert_allclose(layer.kernel_grad, numgrad(loss, layer.kernel), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(layer.bias_grad, numgrad(loss, layer.bias), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dx, numgrad(loss, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("replicas", [1, 3])
def test_dropout_gradients_with_a_fixed_mask(replicas, rng, numgrad):
    layer = _layer("tanh", replicas, dropout=0.5)
    x = rng.normal(size=(replicas, 6, 4))
    c = rng.normal(size=(replicas, 6, 3))

    def same_rngs():  # the same draws, hence the same mask, at every call
        return [np.random.default_rng(10 + r) for r in range(replicas)]

    def loss():
        return float((c * forward(layer, x, training=True, rngs=same_rngs())).sum())

    out = forward(layer, x, training=True, rngs=same_rngs())
    mask = layer._mask[..., :-1].copy()
    assert set(np.unique(mask)) == {0.0, 2.0}  # inverted dropout: survivors scaled by 1/(1-p)
    np.testing.assert_allclose(out, np.tanh((x * mask) @ layer.kernel + layer.bias))
    dx = backward(layer, c.copy())
    kernel_grad = layer.kernel_grad.copy()
    np.testing.assert_allclose(kernel_grad, numgrad(loss, layer.kernel), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dx, numgrad(loss, x), rtol=1e-6, atol=1e-8)
    assert (dx[mask == 0] == 0).all()


def test_dropout_is_off_in_inference_and_drops_at_the_rate_in_training():
    net = Network(50, [Dense(1, dropout=0.3)], replicas=2, dtype="float64", seed=0)
    layer = net.layers[0]
    x = np.ones((2, 400, 50))
    np.testing.assert_allclose(forward(layer, x), x @ layer.kernel + layer.bias)
    forward(layer, x, training=True, rngs=net._rngs)
    mask = layer._mask[..., :-1]  # the mask is augmented like the input: ones last
    assert set(np.unique(mask)) == {0.0, 1 / 0.7}
    assert abs((mask == 0).mean() - 0.3) < 0.02
    assert not np.array_equal(mask[0], mask[1])  # each replica draws its own mask


def test_dropout_buffers_are_reused_per_batch_size(rng):
    net = Network(4, [Dense(3, dropout=0.2)], replicas=2, dtype="float64", seed=0)
    layer = net.layers[0]
    masks = []
    for rows in (5, 5, 7):
        forward(layer, rng.normal(size=(2, rows, 4)), training=True, rngs=net._rngs)
        masks.append(layer._mask)
    assert masks[0] is masks[1]
    assert masks[2] is not masks[0]


def test_validation_and_repr():
    with pytest.raises(ValueError, match=r"`units` must be a positive integer. Received: units=0"):
        Dense(0)
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\)"):
        Dense(3, dropout=1.0)
    with pytest.raises(ValueError, match="valid names"):
        Dense(3, activation="swish")
    with pytest.raises(RuntimeError, match="not built yet"):
        forward(Dense(3), np.zeros((1, 2, 3)))
    assert repr(Dense(3, "relu", dropout=0.1)) == "Dense(3, activation='relu', dropout=0.1)"
    layer = Dense(4, "tanh", kernel_initializer="he_normal", optimizer="adam")
    assert Dense.from_config(layer.get_config()).get_config() == layer.get_config()


def test_dropout_masks_do_not_depend_on_the_dtype():
    masks = []
    for dtype in ("float32", "float64"):
        net = Network(20, [Dense(1, dropout=0.4)], replicas=2, dtype=dtype, seed=3)
        layer = net.layers[0]
        forward(layer, np.ones((2, 64, 20), dtype=dtype), training=True, rngs=net._rngs)
        masks.append(layer._mask[..., :-1] > 0)
    np.testing.assert_array_equal(masks[0], masks[1])
