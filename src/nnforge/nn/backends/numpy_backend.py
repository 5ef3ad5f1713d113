"""The reference backend: the engine's own ``Network.train_step``, one batch per call."""

from __future__ import annotations

import numpy as np

from nnforge.nn.backends.base import EpochRunner

__all__ = ["Runner"]


def _take(table: np.ndarray, rows: np.ndarray, buffers: dict[int, np.ndarray]) -> np.ndarray:
    """``table[rows]`` into a buffer reused per batch size (``np.take`` with ``mode="clip"``,
    for indices known to be valid, is ~3x faster than fancy indexing)."""
    out = buffers.get(rows.shape[1])
    if out is None:
        out = buffers[rows.shape[1]] = np.empty((*rows.shape, table.shape[1]), table.dtype)
    return np.take(table, rows, axis=0, out=out, mode="clip")


class Runner(EpochRunner):
    """Trains with NumPy in the calling process (BLAS threads as the caller sets them)."""

    name = "numpy"

    def _bind(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        # Each replica's rows as one table, so a batch is a single np.take of flat row numbers.
        self._x_rows = x.reshape(-1, x.shape[2])
        self._y_rows = y.reshape(-1, y.shape[2])
        self._w_rows = None if sample_weight is None else sample_weight.reshape(-1)
        self._first_row = np.arange(x.shape[0])[:, None] * x.shape[1]
        self._x_batches: dict[int, np.ndarray] = {}  # by batch size
        self._y_batches: dict[int, np.ndarray] = {}

    def run_epoch(self, order: np.ndarray) -> np.ndarray:
        order = order + self._first_row
        loss_sum = np.zeros(self.net.replicas)
        start = 0
        for size in self._steps(order.shape[1]):
            rows = order[:, start : start + size]
            x = _take(self._x_rows, rows, self._x_batches)
            y = _take(self._y_rows, rows, self._y_batches)
            w = None if self._w_rows is None else self._w_rows[rows]
            loss_sum += self.net.train_step(x, y, w) * size
            start += size
        return loss_sum / order.shape[1]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.net.predict(x)
