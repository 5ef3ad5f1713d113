"""Layers of the engine (dropout is a per-layer option of :class:`Dense`, as in the seed)."""

from nnforge.nn.layers.dense import Dense

__all__ = ["Dense"]
