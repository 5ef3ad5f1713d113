import numpy as np
import pytest

from nnforge.nn import activations

NAMES = ["linear", "tanh", "relu", "sigmoid", "softmax"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("replicas", [1, 3])
def test_backward_matches_finite_differences(name, replicas, rng, numgrad):
    act = activations.get(name)
    z = rng.normal(size=(replicas, 4, 5))
    z[np.abs(z) < 1e-3] = 0.5  # keep away from ReLU's kink
    c = rng.normal(size=z.shape)  # L = sum(c * f(z)), so dL/da = c
    analytic = act.backward(act.forward(z.copy()), c.copy())
    numeric = numgrad(lambda: float((c * act.forward(z.copy())).sum()), z)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_forward_in_place_equals_out_of_place(name, rng):
    act = activations.get(name)
    z = rng.normal(size=(2, 3, 4)).astype(np.float32)
    expected = act.forward(z.copy())
    buf = z.copy()
    assert act.forward(buf, out=buf) is buf
    np.testing.assert_array_equal(buf, expected)
    assert buf.dtype == np.float32


def test_values():
    z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(activations.get("relu")(z), [[0, 0, 3]])
    np.testing.assert_allclose(activations.get("sigmoid")(z), 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(activations.get("tanh")(z), np.tanh(z))
    sm = activations.get("softmax")(z)
    np.testing.assert_allclose(sm, np.exp(z) / np.exp(z).sum())


def test_extreme_inputs_stay_finite():
    z = np.array([[-1000.0, 0.0, 1000.0]])
    assert np.isfinite(activations.get("sigmoid")(z)).all()
    np.testing.assert_allclose(activations.get("softmax")(z), [[0, 0, 1]])


def test_get_accepts_name_dict_instance_and_lists_names():
    relu = activations.ReLU()
    assert activations.get(relu) is relu
    assert activations.get({"name": "tanh"}) == activations.Tanh()
    assert activations.get("ReLU") == relu
    assert activations.get(None) == activations.Linear()
    with pytest.raises(
        ValueError, match=r"valid names are \['linear', 'relu'.*Received: activation='gelu'"
    ):
        activations.get("gelu")
    with pytest.raises(TypeError, match="activation"):
        activations.get(3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_gradient_is_zero_exactly_at_and_below_the_kink(dtype, rng):
    """ReLU's backward keeps the gradient where a > 0 and zeroes it at 0, -0.0, the smallest
    normal and below; also on column views, in place."""
    relu = activations.get("relu")
    tiny = np.finfo(dtype).tiny
    z = rng.normal(size=(2, 6, 8)).astype(dtype)
    z[0, 0, :6] = [0.0, -0.0, tiny, -tiny, np.finfo(dtype).max, -np.finfo(dtype).max]
    a = relu.forward(z.copy())
    assert not np.signbit(a).any()  # forward never yields -0.0
    g = rng.normal(size=z.shape).astype(dtype)
    np.testing.assert_array_equal(relu.backward(a, g), np.where(z > 0, g, 0))
    view = g[..., :5].copy()
    expected = np.where(z[..., :5] > 0, view, 0)
    assert relu.backward(a[..., :5], view, out=view) is view
    np.testing.assert_array_equal(view, expected)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fixes_one_is_true_only_where_f_of_one_is_one(name, dtype):
    """Dense skips re-writing its ones (bias) column after activations that declare f(1) == 1."""
    act = activations.get(name)
    if act.elementwise:
        assert act.fixes_one == (act.forward(np.ones((1, 2, 3), dtype))[..., -1] == 1).all()
