import numpy as np
import pytest

from nnforge.metrics import mean_absolute_error, mean_squared_error, r2_score


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(3, 40, 2))
    return y, y + rng.normal(scale=0.3, size=y.shape)


def _r2(t, p):
    return np.mean(1 - ((t - p) ** 2).sum(0) / ((t - t.mean(0)) ** 2).sum(0))


def test_per_replica_values_match_formulas(data):
    y, p = data
    r2 = r2_score(y, p)
    assert r2.shape == (3,)
    np.testing.assert_allclose(r2, [_r2(y[r], p[r]) for r in range(3)], rtol=1e-12)
    np.testing.assert_allclose(mean_squared_error(y, p), ((y - p) ** 2).mean(axis=(1, 2)))
    np.testing.assert_allclose(mean_absolute_error(y, p), np.abs(y - p).mean(axis=(1, 2)))


def test_2d_and_1d_inputs_give_floats(data):
    y, p = data
    assert r2_score(y[0], p[0]).shape == ()  # always an array: () per model, (R,) per replica
    assert r2_score(y[0], p[0]) == pytest.approx(_r2(y[0], p[0]))
    assert mean_absolute_error([1.0, 2.0], [2.0, 4.0]) == pytest.approx(1.5)
    assert r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0


def test_zero_weights_exclude_padding_rows(data):
    y, p = data
    w = np.ones((3, 40))
    w[1, 30:] = 0
    np.testing.assert_allclose(r2_score(y, p, w)[1], _r2(y[1, :30], p[1, :30]), rtol=1e-12)
    np.testing.assert_allclose(mean_absolute_error(y, p, w)[1], np.abs(y - p)[1, :30].mean())
    np.testing.assert_allclose(r2_score(y, p, w)[0], r2_score(y, p)[0])


def test_constant_target_and_errors():
    assert r2_score([2.0, 2.0], [2.0, 2.0]) == 1.0
    assert r2_score([2.0, 2.0], [1.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        r2_score(np.zeros((3, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="`sample_weight` must have shape"):
        r2_score(np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), np.ones((3, 3)))
