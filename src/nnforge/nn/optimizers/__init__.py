"""Optimizers over flat parameter segments: SGD, Momentum and Adam (+ ``get``)."""

from __future__ import annotations

from typing import Any

from nnforge.nn._registry import resolve
from nnforge.nn.optimizers.adam import Adam
from nnforge.nn.optimizers.base import Optimizer
from nnforge.nn.optimizers.momentum import Momentum
from nnforge.nn.optimizers.sgd import SGD

__all__ = ["SGD", "Adam", "Momentum", "Optimizer", "get"]

_REGISTRY: dict[str, type[Optimizer]] = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def get(identifier: Any) -> Optimizer:
    """Return an optimizer for a name (``"adam"``), a config dict or an instance."""
    return resolve(identifier, _REGISTRY, Optimizer, "optimizer")
