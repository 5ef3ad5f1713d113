"""Adam with Keras' defaults and its exact update formula.

With ``t = iterations + 1``::

    alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
    m += (g - m) * (1 - beta_1)
    v += (g**2 - v) * (1 - beta_2)
    p -= alpha * m / (sqrt(v) + epsilon)

The bias correction uses ``1 - beta**t``; the seed's code divides by ``1 - beta``, which makes
every step ``1 / (1 - beta_1) = 10`` times too large early on. Do not copy it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnforge._validation import check_scalar
from nnforge.nn.optimizers.base import Optimizer

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2014) in Keras' form.

    Parameters
    ----------
    learning_rate : float, Schedule or dict, default=0.001
    beta_1 : float, default=0.9
        Decay of the first-moment estimate, in ``[0, 1)``.
    beta_2 : float, default=0.999
        Decay of the second-moment estimate, in ``[0, 1)``.
    epsilon : float, default=1e-7
        Added to ``sqrt(v)``, Keras' default (PyTorch uses 1e-8).
    weight_decay : float, default=0.0
        L2 penalty on kernels, see :class:`~nnforge.nn.optimizers.base.Optimizer`.
    """

    name = "adam"

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        *,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay)
        self.beta_1 = check_scalar(beta_1, "beta_1", min_val=0.0, max_val=1.0)
        self.beta_2 = check_scalar(beta_2, "beta_2", min_val=0.0, max_val=1.0)
        self.epsilon = check_scalar(epsilon, "epsilon", min_val=0.0)
        for name, beta in (("beta_1", self.beta_1), ("beta_2", self.beta_2)):
            if beta >= 1.0:
                msg = f"`{name}` must be in [0, 1). Received: {name}={beta}"
                raise ValueError(msg)

    def _build(self, param: np.ndarray) -> list[np.ndarray]:
        return [np.zeros_like(param), np.zeros_like(param)]  # m, v

    def _update(
        self, param: np.ndarray, grad: np.ndarray, slots: list[np.ndarray], lr: float
    ) -> None:
        m, v = slots
        tmp = self._tmp
        t = self.iterations + 1
        alpha = lr * math.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t)
        np.subtract(grad, m, out=tmp)  # m += (g - m) * (1 - beta_1)
        tmp *= 1.0 - self.beta_1
        m += tmp
        np.multiply(grad, grad, out=tmp)  # v += (g**2 - v) * (1 - beta_2)
        tmp -= v
        tmp *= 1.0 - self.beta_2
        v += tmp
        np.sqrt(v, out=tmp)  # p -= alpha * m / (sqrt(v) + eps)
        tmp += self.epsilon
        np.divide(m, tmp, out=tmp)
        tmp *= alpha
        param -= tmp

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }
