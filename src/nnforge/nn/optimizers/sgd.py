"""Plain stochastic gradient descent: ``p -= lr * g``."""

from __future__ import annotations

import numpy as np

from nnforge.nn.optimizers.base import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, ``p -= lr * g`` (Keras' default rate 0.01)."""

    name = "sgd"

    def _update(
        self, param: np.ndarray, grad: np.ndarray, slots: list[np.ndarray], lr: float
    ) -> None:
        np.multiply(grad, lr, out=self._tmp)
        param -= self._tmp
