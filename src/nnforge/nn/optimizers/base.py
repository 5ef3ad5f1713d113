"""The optimizer base class: it owns ``step()``; subclasses implement one ``_update``.

An optimizer updates one flat, contiguous segment of a network's parameter buffer in place, with
the matching segment of the gradient buffer. Its slots (momentum velocity, Adam moments) are flat
buffers of the same length, created lazily on the first step, so one update of a whole network is
a handful of vectorised NumPy calls whatever the number of layers and replicas. Slots are
element-wise, so replicas never mix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnforge._validation import check_scalar
from nnforge.nn import schedules
from nnforge.nn._registry import Configurable
from nnforge.nn.fpmode import flushing

__all__ = ["Optimizer"]


class Optimizer(Configurable):
    """Base class of the optimizers.

    Subclasses set ``name``, may override ``_build(param)`` to create their slots, implement
    ``_update(param, grad, slots, lr)`` (in place, using ``self._tmp`` as scratch) and extend
    ``get_config``::

        class SGD(Optimizer):
            name = "sgd"

            def _update(self, param, grad, slots, lr):
                np.multiply(grad, lr, out=self._tmp)
                param -= self._tmp

    Parameters
    ----------
    learning_rate : float, Schedule or dict
        A constant rate or a schedule indexed by ``iterations`` (see :mod:`.schedules`).
    weight_decay : float, default=0.0
        L2 penalty: ``weight_decay * w`` is added to the gradient of every kernel weight ``w``
        (the loss gains ``weight_decay / 2 * ||W||**2``). Biases are never decayed.

    Attributes
    ----------
    iterations : int
        Number of updates applied so far (shared by all replicas, which step together).
    """

    # An optimizer carries state (slots, iterations): two are the same only if identical.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(self, learning_rate: Any = 0.01, *, weight_decay: float = 0.0) -> None:
        self.learning_rate = schedules.get(learning_rate)
        self.weight_decay = check_scalar(weight_decay, "weight_decay", min_val=0.0)
        self.iterations = 0
        self._slots: list[np.ndarray] | None = None  # created by the first step()
        self._tmp: np.ndarray = np.empty(0)  # scratch of the segment's size, never state
        self._decay_cache: tuple[np.ndarray, float, np.ndarray] | None = None

    @flushing
    def step(
        self, param: np.ndarray, grad: np.ndarray, *, decay_mask: np.ndarray | None = None
    ) -> None:
        """Apply one update to the flat ``param`` segment from ``grad`` (same shape), in place.

        ``decay_mask`` (same shape) is 1 on the entries that receive weight decay (kernel
        weights) and 0 elsewhere (biases); ``None`` decays every entry. ``grad`` is modified
        when weight decay is on.
        """
        self.build(param)
        if self.weight_decay:
            np.multiply(param, self._decay(decay_mask, param.dtype), out=self._tmp)
            grad += self._tmp
        self._update(param, grad, self._slots, self.learning_rate(self.iterations))
        self.iterations += 1

    def _decay(self, mask: np.ndarray | None, dtype: np.dtype) -> np.ndarray | float:
        """``weight_decay * mask``, cached: one multiply per step instead of two."""
        if mask is None:
            return self.weight_decay
        cached = self._decay_cache
        if cached is None or cached[0] is not mask or cached[1] != self.weight_decay:
            scaled = (mask * self.weight_decay).astype(dtype)
            cached = self._decay_cache = (mask, self.weight_decay, scaled)
        return cached[2]

    def build(self, param: np.ndarray) -> list[np.ndarray]:
        """The slots for the segment ``param``, created (zeros) if there are none yet: what a
        backend that runs the updates elsewhere reads at the start and writes back."""
        if self._slots is None:
            self._slots = self._build(param)
            self._tmp = np.empty_like(param)
        return self._slots

    def _build(self, param: np.ndarray) -> list[np.ndarray]:
        """Create the slots for a segment like ``param`` (none by default)."""
        return []

    def _update(
        self, param: np.ndarray, grad: np.ndarray, slots: list[np.ndarray], lr: float
    ) -> None:
        raise NotImplementedError

    @property
    def slots(self) -> list[np.ndarray]:
        """The optimizer's state buffers (empty before the first step)."""
        return [] if self._slots is None else self._slots

    def set_state(self, iterations: int, slots: list[np.ndarray] | None) -> None:
        """Continue from another optimizer's state (e.g. some replicas of its segment).

        ``slots`` are laid out like :attr:`slots` for this optimizer's segment (``None``:
        created on the next step).
        """
        self.iterations = int(iterations)
        self._slots = None if not slots else [np.array(s) for s in slots]
        self._tmp = np.empty(0) if self._slots is None else np.empty_like(self._slots[0])

    def reset(self) -> None:
        """Forget the state: zero iterations, slots recreated on the next step."""
        self.iterations = 0
        self._slots = None

    def get_config(self) -> dict[str, Any]:
        lr = self.learning_rate
        rate: Any = lr.learning_rate if isinstance(lr, schedules.Constant) else lr.get_config()
        return {**super().get_config(), "learning_rate": rate, "weight_decay": self.weight_decay}
