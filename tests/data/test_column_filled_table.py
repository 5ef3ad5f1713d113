"""The shared table filled a column at a time through row blocks equals a direct fill."""

from __future__ import annotations

import numpy as np
import pytest

from nnforge.data import table
from nnforge.data.table import ColumnFilledTable


@pytest.mark.parametrize(
    ("n_rows", "block_bytes"), [(0, 64), (1, 64), (103, 8 * 3 * 10), (103, 1 << 20)]
)
def test_column_filled_table_equals_a_direct_fill(monkeypatch, n_rows, block_bytes):
    monkeypatch.setattr(table, "_BLOCK_BYTES", block_bytes)  # 10 rows a block, or one block
    rng = np.random.default_rng(0)
    expected = rng.normal(size=(n_rows, 3))
    expected[rng.random((n_rows, 3)) < 0.1] = np.nan  # missing cells stay NaN
    filled = ColumnFilledTable(n_rows, 3)
    for j in (2, 0, 1):
        filled.set_column(j, expected[:, j].copy())
    got = filled.finish()
    assert got.flags.c_contiguous
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    assert all(b is None for b in filled._blocks)  # released as copied
