"""A row-major float64 table filled one column at a time, without a second full copy.

The shared model-input table (:meth:`Pipeline.encode`) is row-major, so that a batch of rows is
one ``np.take``; its values come from a Polars frame a column at a time, and each frame column is
dropped once copied. Writing one column into a row-major array touches every page of it, so the
whole table would be resident next to the whole frame (10 M rows x 34 inputs: 2.6 GB each).
Here the columns go into blocks of rows stored column-major (a column of a block is contiguous:
writing it touches only its own pages), and :meth:`ColumnFilledTable.finish` moves the blocks
into the row-major table one at a time, freeing each: the frame, the blocks and the table are
never all resident at once, and the extra memory is about one block.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ColumnFilledTable"]

# A block is at least this large, above glibc's largest mmap threshold (32 MiB): freeing one
# returns its pages to the system at once instead of to the heap.
_BLOCK_BYTES = 64 << 20


class ColumnFilledTable:
    """``(n_rows, n_cols)`` float64, filled by :meth:`set_column`, read by :meth:`finish`."""

    def __init__(self, n_rows: int, n_cols: int) -> None:
        self.shape = (n_rows, n_cols)
        rows = max(1, _BLOCK_BYTES // (8 * max(1, n_cols)))
        self._starts = list(range(0, n_rows, rows)) or [0]
        self._blocks: list[np.ndarray | None] = [
            np.empty((n_cols, min(rows, n_rows - start))) for start in self._starts
        ]

    def set_column(self, j: int, values: np.ndarray) -> None:
        """Column ``j`` for every row (``values`` of shape (n_rows,), converted to float64)."""
        for start, block in zip(self._starts, self._blocks, strict=True):
            block[j] = values[start : start + block.shape[1]]

    def finish(self) -> np.ndarray:
        """The C-contiguous table; the blocks are released as they are copied into it."""
        out = np.empty(self.shape)
        for i, start in enumerate(self._starts):
            block = self._blocks[i]
            out[start : start + block.shape[1]] = block.T
            self._blocks[i] = None
        return out
