"""SGD with momentum, in Keras' form: ``v = momentum * v - lr * g; p += v``.

The seed's form (``v = momentum * v + lr * g; p -= v``) is the same update with ``v`` negated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnforge._validation import check_scalar
from nnforge.nn.optimizers.base import Optimizer

__all__ = ["Momentum"]


class Momentum(Optimizer):
    """SGD with momentum (Keras ``SGD(momentum=...)``), optionally Nesterov.

    Parameters
    ----------
    learning_rate : float, Schedule or dict, default=0.01
    momentum : float, default=0.9
        Fraction of the previous velocity kept, in ``[0, 1)``.
    nesterov : bool, default=False
        Use Keras' Nesterov form ``p += momentum * v - lr * g`` (after updating ``v``).
    weight_decay : float, default=0.0
        L2 penalty on kernels, see :class:`~nnforge.nn.optimizers.base.Optimizer`.
    """

    name = "momentum"

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.9,
        *,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay)
        self.momentum = check_scalar(momentum, "momentum", min_val=0.0, max_val=1.0)
        self.nesterov = bool(nesterov)

    def _build(self, param: np.ndarray) -> list[np.ndarray]:
        return [np.zeros_like(param)]  # velocity

    def _update(
        self, param: np.ndarray, grad: np.ndarray, slots: list[np.ndarray], lr: float
    ) -> None:
        (velocity,) = slots
        tmp = self._tmp
        velocity *= self.momentum
        np.multiply(grad, lr, out=tmp)
        velocity -= tmp
        if self.nesterov:
            param -= tmp
            np.multiply(velocity, self.momentum, out=tmp)
        else:
            tmp = velocity
        param += tmp

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
