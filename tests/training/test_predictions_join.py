"""Out-of-fold predictions are put next to the file's rows without copying them (issue 15), and
the frame is the one an inner join on the key gives, in every case."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from nnforge.training.summary import join_predictions


def inner_join(source: pl.DataFrame, oof: pl.DataFrame, id_col: str) -> pl.DataFrame:
    """The former implementation: a join of every column."""
    if id_col in source.columns and source[id_col].n_unique() == source.height:
        return source.join(oof, on=id_col, how="inner", maintain_order="left")
    row = "row" if "row" not in source.columns else "nnforge_row"
    numbered = source.with_row_index(row, offset=1).with_columns(pl.col(row).cast(pl.Int64))
    oof = oof.rename({id_col: row}).with_columns(pl.col(row).cast(pl.Int64))
    return numbered.join(oof, on=row, how="inner", maintain_order="left")


def source_and_oof(n: int, keys: np.ndarray, id_col: str, **extra) -> tuple:
    rng = np.random.default_rng(0)
    source = pl.DataFrame({"id": rng.permutation(n) * 7, "x": rng.normal(size=n), **extra})
    order = rng.permutation(len(keys))  # folds come back in fold order, not file order
    oof = pl.DataFrame(
        {
            id_col: keys[order],
            "price_pred": rng.normal(size=len(keys))[order],
            "fold": (np.arange(len(keys)) % 3)[order],
        }
    )
    return source, oof


@pytest.mark.parametrize("case", ["row numbers", "id column", "rows dropped", "name clash"])
def test_predictions_join_equals_an_inner_join(case):
    n = 50
    if case == "row numbers":
        source, oof = source_and_oof(n, np.arange(1, n + 1), "row")
    elif case == "id column":
        source, oof = source_and_oof(n, np.arange(n) * 7, "id")
    elif case == "rows dropped":  # rows without a target have no prediction
        source, oof = source_and_oof(n, np.arange(1, n + 1)[::2], "row")
    else:  # the file has a column named like a prediction column
        source, oof = source_and_oof(n, np.arange(1, n + 1), "row", fold=np.zeros(n))
    expected = inner_join(source, oof, oof.columns[0])
    got = join_predictions(source, oof, oof.columns[0])
    assert_frame_equal(got, expected)
    assert got.height == (n // 2 if case == "rows dropped" else n)


def test_every_row_predicted_shares_the_files_columns():
    source, oof = source_and_oof(1000, np.arange(1, 1001), "row")
    got = join_predictions(source, oof, "row")
    before = source["x"].to_numpy()
    assert np.shares_memory(got["x"].to_numpy(), before)  # not copied
