"""Loss functions: per-sample values and their gradients with respect to the prediction.

Arrays are ``(..., n, k)`` (``k`` outputs); a loss returns the per-sample value ``(..., n)``, the
mean over the ``k`` outputs for MSE and binary cross-entropy (as Keras), the sum over classes for
categorical cross-entropy. The network then weights and averages the samples of each replica.

Two losses pair with an output activation whose gradient they fuse (``fused_activation``): when
the last layer uses that activation, the network trains on the logits ``z`` and calls
``from_logits``, which is numerically stable and gives the simple gradients

* softmax + categorical cross-entropy: ``dl/dz = p * sum(y) - y`` (``p - y`` for one-hot ``y``),
* sigmoid + binary cross-entropy:      ``dl/dz = (p - y) / k``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from nnforge.nn._registry import Configurable, resolve

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "MeanSquaredError",
    "binary_crossentropy",
    "categorical_crossentropy",
    "get",
    "mean_squared_error",
]

# Probabilities are clipped to [EPSILON, 1 - EPSILON] when a loss gets probabilities rather than
# logits, as Keras does (backend epsilon 1e-7).
EPSILON = 1e-7


class Loss(Configurable):
    """Base class: ``loss(y_true, y_pred)`` per sample and ``gradient(y_true, y_pred)``.

    Subclasses implement ``__call__`` and ``gradient``; a loss that fuses with its natural output
    activation sets ``fused_activation`` and implements ``from_logits``.
    """

    fused_activation: ClassVar[str | None] = None

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """``d loss_i / d y_pred_i`` for every sample ``i`` (not averaged over samples)."""
        raise NotImplementedError

    def from_logits(self, y_true: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample loss and its gradient with respect to the logits (fused losses only)."""
        msg = f"the {self.name} loss has no fused activation; use `__call__` and `gradient`"
        raise NotImplementedError(msg)


def _mean_last(x: np.ndarray) -> np.ndarray:
    """``x.mean(axis=-1)``, bit for bit, without ``np.mean``'s Python layer (~25 µs a call,
    as much as the loss itself on a training batch)."""
    return np.add.reduce(x, axis=-1) / x.shape[-1]


class MeanSquaredError(Loss):
    """``mean_k (y_pred - y_true)**2`` per sample."""

    name = "mse"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        diff = y_pred - y_true
        diff *= diff
        return _mean_last(diff)

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        grad = y_pred - y_true
        grad *= 2.0 / y_pred.shape[-1]
        return grad


class BinaryCrossentropy(Loss):
    """``-mean_k [y log p + (1 - y) log(1 - p)]`` per sample; fuses with a sigmoid output."""

    name = "binary_crossentropy"
    fused_activation = "sigmoid"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        p = np.clip(y_pred, EPSILON, 1.0 - EPSILON)
        return -_mean_last(y_true * np.log(p) + (1.0 - y_true) * np.log1p(-p))

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        p = np.clip(y_pred, EPSILON, 1.0 - EPSILON)
        grad = (p - y_true) / (p * (1.0 - p))
        grad *= (p == y_pred) / y_pred.shape[-1]  # clipped entries are flat
        return grad.astype(y_pred.dtype, copy=False)

    def from_logits(self, y_true: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = logits
        # log(1 + exp(-|z|)) + max(z, 0) - z*y  ==  -[y log s(z) + (1-y) log(1 - s(z))]
        loss = _mean_last(np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z))))
        grad = np.multiply(z, 0.5)
        np.tanh(grad, out=grad)  # sigmoid(z) = (1 + tanh(z/2)) / 2
        grad *= 0.5
        grad += 0.5
        grad -= y_true
        grad /= z.shape[-1]
        return loss, grad


class CategoricalCrossentropy(Loss):
    """``-sum_k y log p`` per sample (``y`` one-hot or probabilities); fuses with softmax."""

    name = "categorical_crossentropy"
    fused_activation = "softmax"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        p = np.clip(y_pred, EPSILON, 1.0 - EPSILON)
        return -(y_true * np.log(p)).sum(axis=-1)

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        p = np.clip(y_pred, EPSILON, 1.0 - EPSILON)
        grad = -y_true / p
        grad *= p == y_pred
        return grad.astype(y_pred.dtype, copy=False)

    def from_logits(self, y_true: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shifted = logits - logits.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=-1, keepdims=True)
        log_p = shifted - np.log(total)
        mass = y_true.sum(axis=-1, keepdims=True)
        loss = -(y_true * log_p).sum(axis=-1)
        grad = exp / total  # softmax
        grad *= mass
        grad -= y_true
        return loss, grad


def mean_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-sample mean squared error over the last axis."""
    return MeanSquaredError()(np.asarray(y_true), np.asarray(y_pred))


def binary_crossentropy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-sample binary cross-entropy of probabilities ``y_pred``."""
    return BinaryCrossentropy()(np.asarray(y_true), np.asarray(y_pred))


def categorical_crossentropy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-sample categorical cross-entropy of probabilities ``y_pred``."""
    return CategoricalCrossentropy()(np.asarray(y_true), np.asarray(y_pred))


_REGISTRY: dict[str, type[Loss]] = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "cce": CategoricalCrossentropy,
}


def get(identifier: Any) -> Loss:
    """Return the loss for a name (``"mse"``), a config dict or an instance."""
    return resolve(identifier, _REGISTRY, Loss, "loss")
