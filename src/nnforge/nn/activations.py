"""Activation functions, each with its forward and backward pass side by side.

Every backward pass is written in terms of the *output* ``a = f(z)``, so a layer can compute the
activation in place over ``z`` and cache only ``a``:

* linear:  ``f'(z) = 1``
* tanh:    ``f'(z) = 1 - a**2``
* relu:    ``f'(z) = [a > 0]``
* sigmoid: ``f'(z) = a * (1 - a)``
* softmax: ``J^T g = a * (g - sum(g * a))`` (the Jacobian-vector product, per sample)

Softmax with categorical cross-entropy and sigmoid with binary cross-entropy are not
differentiated here in training: the network hands the logits to the loss, which returns the
fused, numerically stable gradient (see :mod:`nnforge.nn.losses`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from nnforge.nn._registry import Configurable, resolve

__all__ = ["Activation", "Linear", "ReLU", "Sigmoid", "Softmax", "Tanh", "get"]

# Above this many elements, ReLU compares with a scalar rather than a cached zero array (the
# zero array makes np.maximum take its fast same-shape loop, ~3x faster on small batches).
_ZEROS_MAX = 1 << 20
_zeros_cache: dict[tuple[tuple[int, ...], np.dtype], np.ndarray] = {}


def _zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | float:
    key = (shape, dtype)
    arr = _zeros_cache.get(key)
    if arr is None:
        if np.prod(shape) > _ZEROS_MAX:
            return 0.0
        if len(_zeros_cache) > 32:  # bounded: batch shapes in a session are few
            _zeros_cache.clear()
        arr = _zeros_cache[key] = np.zeros(shape, dtype)
    return arr


class Activation(Configurable):
    """Base class: ``forward(z)`` returns ``a``; ``backward(a, grad)`` returns ``dL/dz``.

    Subclasses set ``name`` and implement both methods; ``out`` may alias the input for an
    in-place update. ``elementwise`` activations may be applied to a whole buffer at once,
    padding columns included.
    """

    elementwise: ClassVar[bool] = True
    fixes_one: ClassVar[bool] = False  # f(1) == 1 exactly: a layer's ones column survives f

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def backward(
        self, a: np.ndarray, grad: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.forward(z)


class Linear(Activation):
    """The identity, for regression outputs."""

    name = "linear"
    fixes_one = True

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if out is None or out is z:
            return z
        np.copyto(out, z)
        return out

    def backward(
        self, a: np.ndarray, grad: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        return self.forward(grad, out)


class Tanh(Activation):
    """Hyperbolic tangent, the seed's XOR activation."""

    name = "tanh"

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.tanh(z, out=out)

    def backward(
        self, a: np.ndarray, grad: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        d = a * a  # f'(z) = 1 - tanh(z)**2 = 1 - a**2
        np.subtract(1, d, out=d)
        return np.multiply(grad, d, out=out)


class ReLU(Activation):
    """``max(z, 0)``; its gradient at exactly 0 is taken as 0 (Keras' convention)."""

    name = "relu"
    fixes_one = True

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.maximum(z, _zeros(z.shape, z.dtype), out=out)

    def backward(
        self, a: np.ndarray, grad: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        return np.multiply(grad, a > 0, out=out)


class Sigmoid(Activation):
    """Logistic function, computed as ``(1 + tanh(z / 2)) / 2`` which never overflows."""

    name = "sigmoid"

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        a = np.multiply(z, 0.5, out=out)
        np.tanh(a, out=a)
        a *= 0.5
        a += 0.5
        return a

    def backward(
        self, a: np.ndarray, grad: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        d = np.subtract(1, a)  # f'(z) = a * (1 - a)
        d *= a
        return np.multiply(grad, d, out=out)


class Softmax(Activation):
    """Softmax over the last axis, shifted by the row maximum for stability."""

    name = "softmax"
    elementwise = False

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        a = np.subtract(z, z.max(axis=-1, keepdims=True), out=out)
        np.exp(a, out=a)
        a /= a.sum(axis=-1, keepdims=True)
        return a

    def backward(
        self, a: np.ndarray, grad: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        dot = (grad * a).sum(axis=-1, keepdims=True)  # J^T g = a * (g - <g, a>)
        d = np.subtract(grad, dot, out=out)
        d *= a
        return d


_REGISTRY: dict[str, type[Activation]] = {
    "linear": Linear,
    "tanh": Tanh,
    "relu": ReLU,
    "sigmoid": Sigmoid,
    "softmax": Softmax,
}


def get(identifier: Any) -> Activation:
    """Return the activation for a name (``"relu"``), a config dict or an instance."""
    if identifier is None:
        return Linear()
    return resolve(identifier, _REGISTRY, Activation, "activation")
