"""Shared helpers for the engine tests: central finite differences in float64."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def _numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences, perturbing ``x`` in place (restored afterwards)."""
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):  # indexing, not reshape(-1): x may be a strided view
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


@pytest.fixture
def numgrad() -> Callable[..., np.ndarray]:
    return _numerical_grad


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
