import pytest

from nnforge.nn import schedules
from nnforge.nn.schedules import Constant, InverseTimeDecay, PiecewiseConstant


def test_constant():
    assert [Constant(0.3)(s) for s in (0, 10, 10**6)] == [0.3, 0.3, 0.3]


@pytest.mark.parametrize("step", [0, 1, 7, 10, 25, 1000])
def test_inverse_time_decay_formula(step):
    sched = InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert sched(step) == pytest.approx(0.1 / (1 + 0.5 * step / 10), rel=1e-15)
    stair = InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert stair(step) == pytest.approx(0.1 / (1 + 0.5 * (step // 10)), rel=1e-15)


def test_piecewise_constant_keras_boundaries():
    sched = PiecewiseConstant([100, 200], [1.0, 0.5, 0.1])
    got = [sched(s) for s in (0, 100, 101, 200, 201, 10**6)]
    assert got == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]


def test_validation_and_get():
    with pytest.raises(ValueError, match="one more element"):
        PiecewiseConstant([1, 2], [1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        PiecewiseConstant([2, 1], [1.0, 0.5, 0.1])
    with pytest.raises(ValueError, match="Received: decay_steps=0"):
        InverseTimeDecay(0.1, 0, 1.0)
    assert schedules.get(0.5) == Constant(0.5)
    config = InverseTimeDecay(0.1, 5, 2.0, staircase=True).get_config()
    assert schedules.get(config) == InverseTimeDecay(0.1, 5, 2.0, staircase=True)
    with pytest.raises(ValueError, match="valid names"):
        schedules.get("cosine")
