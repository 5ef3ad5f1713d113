"""Weight initializers, drawn per replica from that replica's own generator.

Each initializer is called with the shape of *one* replica's tensor -- ``(fan_in, fan_out)`` for a
kernel, ``(units,)`` for a bias -- and a ``np.random.Generator``. Values are drawn in float64 and
then cast, so a float32 and a float64 network with the same seed start from the same weights (up
to rounding).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnforge._validation import check_scalar
from nnforge.nn._registry import Configurable, resolve

__all__ = [
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Initializer",
    "SignedUniform",
    "Uniform",
    "Zeros",
    "get",
]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    # A bias (1-D) counts its length as both fans, as Keras does.
    if len(shape) == 1:
        return shape[0], shape[0]
    return shape[0], shape[1]


class Initializer(Configurable):
    """Base class: ``init(shape, rng, dtype)`` returns a new array of that shape."""

    def __call__(
        self, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any = np.float32
    ) -> np.ndarray:
        return self._draw(tuple(shape), rng).astype(dtype, copy=False)

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


class Zeros(Initializer):
    """All zeros, the default for biases (the seed found random biases broke ReLU)."""

    name = "zeros"

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return np.zeros(shape)


class Uniform(Initializer):
    """``U[minval, maxval)``, by default ``[0, 1)``."""

    name = "uniform"

    def __init__(self, minval: float = 0.0, maxval: float = 1.0) -> None:
        self.minval = check_scalar(minval, "minval")
        self.maxval = check_scalar(maxval, "maxval")
        if self.maxval <= self.minval:
            msg = (
                "`maxval` must be greater than `minval`. "
                f"Received: minval={minval}, maxval={maxval}"
            )
            raise ValueError(msg)

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.minval, self.maxval, size=shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class SignedUniform(Uniform):
    """``U[-1, 1)``, the seed's initializer for the XOR network."""

    name = "signed_uniform"

    def __init__(self) -> None:
        super().__init__(-1.0, 1.0)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


class GlorotUniform(Initializer):
    """``U[-limit, limit)`` with ``limit = sqrt(6 / (fan_in + fan_out))`` (Keras' default)."""

    name = "glorot_uniform"

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        fan_in, fan_out = _fans(shape)
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape)


class HeUniform(Initializer):
    """``U[-limit, limit)`` with ``limit = sqrt(6 / fan_in)``, suited to ReLU."""

    name = "he_uniform"

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        limit = math.sqrt(6.0 / _fans(shape)[0])
        return rng.uniform(-limit, limit, size=shape)


class HeNormal(Initializer):
    """Truncated normal with standard deviation ``sqrt(2 / fan_in)``, as Keras' ``he_normal``.

    Values beyond two standard deviations are redrawn; the underlying normal's deviation is
    divided by 0.87962566103423978 so the truncated distribution keeps the target variance.
    """

    name = "he_normal"

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        stddev = math.sqrt(2.0 / _fans(shape)[0]) / 0.87962566103423978
        values = rng.standard_normal(shape)
        bad = np.abs(values) > 2.0
        while bad.any():
            values[bad] = rng.standard_normal(int(bad.sum()))
            bad = np.abs(values) > 2.0
        return values * stddev


_REGISTRY: dict[str, type[Initializer]] = {
    "zeros": Zeros,
    "uniform": Uniform,
    "signed_uniform": SignedUniform,
    "glorot_uniform": GlorotUniform,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
}


def get(identifier: Any) -> Initializer:
    """Return the initializer for a name (``"glorot_uniform"``), a config dict or an instance."""
    return resolve(identifier, _REGISTRY, Initializer, "initializer")
