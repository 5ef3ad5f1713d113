"""Learning-rate schedules, indexed by the optimizer's iteration count (Keras semantics).

A schedule is called with the number of updates already applied (``0`` for the first step) and
returns the learning rate of the next update.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from nnforge._validation import check_scalar
from nnforge.nn._registry import Configurable, resolve

__all__ = ["Constant", "InverseTimeDecay", "PiecewiseConstant", "Schedule", "get"]


class Schedule(Configurable):
    """Base class: ``schedule(step) -> learning rate``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError


class Constant(Schedule):
    """The same rate at every step."""

    name = "constant"

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = check_scalar(learning_rate, "learning_rate", min_val=0.0)

    def __call__(self, step: int) -> float:
        return self.learning_rate

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "learning_rate": self.learning_rate}


class InverseTimeDecay(Schedule):
    """``initial / (1 + decay_rate * step / decay_steps)``, as Keras' ``InverseTimeDecay``.

    With ``staircase=True`` the ratio ``step / decay_steps`` is floored, so the rate changes only
    every ``decay_steps`` updates (e.g. once per epoch when ``decay_steps`` is the number of
    batches per epoch).
    """

    name = "inverse_time_decay"

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
    ) -> None:
        self.initial_learning_rate = check_scalar(
            initial_learning_rate, "initial_learning_rate", min_val=0.0
        )
        self.decay_steps = check_scalar(decay_steps, "decay_steps", min_val=0.0, include_min=False)
        self.decay_rate = check_scalar(decay_rate, "decay_rate", min_val=0.0)
        self.staircase = bool(staircase)

    def __call__(self, step: int) -> float:
        ratio = step / self.decay_steps
        if self.staircase:
            ratio = float(int(ratio))
        return self.initial_learning_rate / (1.0 + self.decay_rate * ratio)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
        }


class PiecewiseConstant(Schedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[1]`` up to ``boundaries[1]``, ...

    Same convention as Keras' ``PiecewiseConstantDecay``: ``len(values) == len(boundaries) + 1``
    and the boundaries are increasing.
    """

    name = "piecewise_constant"

    def __init__(self, boundaries: Sequence[int], values: Sequence[float]) -> None:
        self.boundaries = [int(b) for b in boundaries]
        self.values = [check_scalar(v, "values", min_val=0.0) for v in values]
        if len(self.values) != len(self.boundaries) + 1:
            msg = (
                "`values` must have one more element than `boundaries`. "
                f"Received: boundaries={list(boundaries)}, values={list(values)}"
            )
            raise ValueError(msg)
        if any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:], strict=False)):
            msg = (
                f"`boundaries` must be strictly increasing. Received: boundaries={list(boundaries)}"
            )
            raise ValueError(msg)

    def __call__(self, step: int) -> float:
        return self.values[bisect.bisect_left(self.boundaries, step)]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "boundaries": self.boundaries, "values": self.values}


_REGISTRY: dict[str, type[Schedule]] = {
    "constant": Constant,
    "inverse_time_decay": InverseTimeDecay,
    "piecewise_constant": PiecewiseConstant,
}


def get(identifier: Any) -> Schedule:
    """Return a schedule for a float (constant rate), a name, a config dict or an instance."""
    if isinstance(identifier, int | float) and not isinstance(identifier, bool):
        return Constant(identifier)
    return resolve(identifier, _REGISTRY, Schedule, "schedule")
