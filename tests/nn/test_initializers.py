import math

import numpy as np
import pytest

from nnforge.nn import initializers


def _draw(name, shape=(200, 300), seed=0):
    return initializers.get(name)(shape, np.random.default_rng(seed), np.float64)


def test_zeros_and_uniform_ranges():
    assert (_draw("zeros") == 0).all()
    u = _draw("uniform")
    assert u.min() >= 0.0
    assert u.max() < 1.0
    s = _draw("signed_uniform")
    assert s.min() >= -1.0
    assert s.max() < 1.0
    assert s.min() < -0.99


@pytest.mark.parametrize(
    ("name", "limit"),
    [("glorot_uniform", math.sqrt(6 / (200 + 300))), ("he_uniform", math.sqrt(6 / 200))],
)
def test_uniform_limits(name, limit):
    w = _draw(name)
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit
    assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)


def test_he_normal_is_truncated_with_target_variance():
    w = _draw("he_normal")
    target = math.sqrt(2 / 200)
    assert w.std() == pytest.approx(target, rel=0.03)
    assert np.abs(w).max() <= 2 * target / 0.87962566103423978


def test_deterministic_per_generator_and_dtype():
    a = initializers.get("glorot_uniform")((3, 4), np.random.default_rng(1), np.float32)
    b = initializers.get("glorot_uniform")((3, 4), np.random.default_rng(1), np.float64)
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-7)


def test_get_with_params_and_errors():
    init = initializers.get({"name": "uniform", "minval": -0.5, "maxval": 0.5})
    assert init.get_config() == {"name": "uniform", "minval": -0.5, "maxval": 0.5}
    with pytest.raises(ValueError, match="valid names"):
        initializers.get("orthogonal")
    with pytest.raises(ValueError, match="`maxval` must be greater than `minval`"):
        initializers.Uniform(1.0, 0.0)
