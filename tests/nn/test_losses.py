import numpy as np
import pytest

from nnforge.nn import activations, losses


def _targets(name, rng, shape):
    if name == "mse":
        return rng.normal(size=shape)
    if name == "binary_crossentropy":
        return rng.integers(0, 2, size=shape).astype(float)
    y = np.zeros(shape)  # one-hot
    idx = rng.integers(0, shape[-1], size=shape[:-1])
    np.put_along_axis(y, idx[..., None], 1.0, axis=-1)
    return y


@pytest.mark.parametrize("name", ["mse", "binary_crossentropy", "categorical_crossentropy"])
@pytest.mark.parametrize("replicas", [1, 3])
def test_gradient_matches_finite_differences(name, replicas, rng, numgrad):
    loss = losses.get(name)
    shape = (replicas, 5, 3)
    y = _targets(name, rng, shape)
    p = rng.uniform(0.1, 0.9, size=shape) if name != "mse" else rng.normal(size=shape)
    analytic = loss.gradient(y, p)
    numeric = numgrad(lambda: float(loss(y, p).sum()), p)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy"])
@pytest.mark.parametrize("replicas", [1, 3])
def test_fused_logit_gradient(name, replicas, rng, numgrad):
    loss = losses.get(name)
    act = activations.get(loss.fused_activation)
    shape = (replicas, 5, 3)
    y = _targets(name, rng, shape)
    z = rng.normal(scale=2.0, size=shape)
    value, grad = loss.from_logits(y, z)
    np.testing.assert_allclose(value, loss(y, act(z)), rtol=1e-9)  # same loss as unfused
    numeric = numgrad(lambda: float(loss.from_logits(y, z)[0].sum()), z)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    if name == "categorical_crossentropy":
        np.testing.assert_allclose(grad, act(z) - y, rtol=1e-12)  # p - y for one-hot targets


def test_fused_losses_are_stable_for_huge_logits():
    z = np.array([[[1000.0, -1000.0]]])
    y = np.array([[[1.0, 0.0]]])
    for name in ["binary_crossentropy", "categorical_crossentropy"]:
        value, grad = losses.get(name).from_logits(y, z)
        assert np.isfinite(value).all()
        assert np.isfinite(grad).all()


def test_values_and_per_sample_mean_over_outputs():
    y = np.array([[1.0, 2.0], [0.0, 0.0]])
    p = np.array([[1.0, 4.0], [1.0, 1.0]])
    np.testing.assert_allclose(losses.mean_squared_error(y, p), [2.0, 1.0])  # Keras: mean over k
    np.testing.assert_allclose(
        losses.binary_crossentropy([[1.0]], [[0.8]]), [-np.log(0.8)], rtol=1e-12
    )
    np.testing.assert_allclose(
        losses.categorical_crossentropy([[0.0, 1.0]], [[0.3, 0.7]]), [-np.log(0.7)], rtol=1e-12
    )


def test_get():
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("mean_squared_error"), losses.MeanSquaredError)
    assert isinstance(losses.get({"name": "cce"}), losses.CategoricalCrossentropy)
    with pytest.raises(ValueError, match="valid names"):
        losses.get("hinge")
