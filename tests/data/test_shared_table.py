"""One shared table + per-fold column steps == a transformed copy per fold, bit for bit.

A k-fold run keeps ``Pipeline.encode`` of the whole derived frame once and applies each fold's
``column_steps`` when a batch is gathered; ``Pipeline.fit(frame, rows=...)`` fits without
copying the fold's rows. These tests hold that path to the per-fold one it replaces
(``fit(frame[rows])`` → ``transform`` → ``to_arrays``) on every kind of column.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from nnforge.data import (
    AddSquared,
    Classes,
    Clipped,
    CyclicalMonth,
    DatasetSpec,
    FilterOutliers,
    Log10,
    Missing,
    Normalized,
    Not,
    OneHot,
    Out,
    Pipeline,
    Standardized,
    derive,
    table,
)
from nnforge.data.fitting import one_hot_vocabulary
from nnforge.demos import example_spec
from nnforge.exceptions import DataError
from nnforge.model import Model


def dirty_frame(n: int = 400, seed: int = 0) -> pl.DataFrame:
    """Every kind of column the steps must handle, with missing cells and outliers."""
    rng = np.random.default_rng(seed)

    def holes(values, p):
        return [None if rng.random() < p else v for v in values]

    cities = rng.choice(["a", "b", "c", "d", "rare"], n, p=[0.3, 0.3, 0.2, 0.19, 0.01])
    return pl.DataFrame(
        {
            "area": holes(rng.lognormal(7, 0.5, n).round(0), 0.05),  # median fill, log10, square
            "rooms": holes(rng.integers(1, 9, n).astype(float), 0.05),  # drop policy
            "age": holes(rng.uniform(0, 100, n), 0.05),  # mean fill, z-score
            "lot": holes(np.r_[rng.uniform(1, 10, n - 3), [900.0, 1000.0, -50.0]], 0.03),
            "month": holes(rng.integers(1, 13, n).astype(float), 0.05),  # cyclical, median
            "city": holes(cities.tolist(), 0.05),  # one-hot, drop policy (mode fill)
            "zone": holes(rng.choice(["n", "s"], n).tolist(), 0.05),  # one-hot, constant fill
            "price": rng.lognormal(12, 0.4, n),
        },
        strict=False,
    )


def dirty_spec(frame: pl.DataFrame) -> DatasetSpec:
    return (
        DatasetSpec.from_frame(frame, name="dirty")
        .add_opt_to("price", Out)
        .add_opt(Log10.only(["area", "price"]))
        .add_opt_to("area", Missing("median"))
        .add_opt_to("area", AddSquared)
        .add_opt_to("rooms", Missing("drop"))
        .add_opt_to("age", Missing("mean"))
        .add_opt_to("lot", Missing("median"))
        .add_opt_to("month", Missing("median"))
        .add_opt_to("month", CyclicalMonth)
        .add_opt_to("city", OneHot("column", min_frequency=10))
        .add_opt_to("city", Missing("drop"))
        .add_opt_to("zone", OneHot())
        .add_opt_to("zone", Missing("constant", "s"))
        .add_opt(FilterOutliers.only(["lot", "rooms"]))
        .add_opt(Normalized.only(["area", "area_squared", "rooms", "lot", "price"]))
        .add_opt(Clipped.only(["area", "lot"]))
        .add_opt_to("age", Standardized)
    )


def assert_same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


def check_fold(frame, spec, train_rows, valid_rows, vocabulary, dtype) -> Pipeline:
    """The shared-table path against the per-fold copies, for one fold."""
    copy = Pipeline(spec).fit(frame[train_rows], vocabulary=vocabulary)
    shared = Pipeline(spec).fit(frame, vocabulary=vocabulary, rows=train_rows)
    assert shared.to_dict() == copy.to_dict()  # the same fitted state, exactly

    ids, x, y = shared.encode(frame)
    x_steps, y_steps = shared.column_steps()
    kept = train_rows[shared.training_mask(frame)[train_rows]]
    for rows, training in ((train_rows, True), (valid_rows, False)):
        want_ids, want_x, want_y = copy.to_arrays(
            copy.transform(frame[rows], training=training), dtype=dtype
        )
        got = kept if training else rows
        np.testing.assert_array_equal(ids[got], want_ids)
        assert_same_bits(x_steps.apply(x[got]).astype(dtype), want_x)
        assert_same_bits(y_steps.apply(y[got]).astype(dtype), want_y)
    assert len(train_rows) - len(kept) == copy.n_dropped_
    return shared


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("blocks", ["one block", "small blocks"])
def test_shared_table_and_steps_equal_per_fold_copies_bit_for_bit(monkeypatch, dtype, blocks):
    if blocks != "one block":  # the table is filled through many row blocks, as at scale
        monkeypatch.setattr(table, "_BLOCK_BYTES", 1000)  # a few rows a block
    frame = dirty_frame()
    spec = dirty_spec(frame)
    derived = derive(spec, frame)
    vocabulary = one_hot_vocabulary(spec, derived)
    rng = np.random.default_rng(1)
    for _ in range(3):
        valid = np.sort(rng.permutation(derived.height)[:80])
        train = np.setdiff1d(np.arange(derived.height), valid)
        pipe = check_fold(derived, spec, train, valid, vocabulary, dtype)
    # the frame exercises what it is meant to: fills of every kind, filters, rare categories
    assert pipe.n_dropped_ > 0
    assert pipe.fences_
    assert pipe.rare_categories_["city"] == ["rare"]
    assert {"area", "age", "month", "city", "zone"} <= set(pipe.fill_values_)
    assert np.isnan(pipe.encode(derived)[1]).any()


def test_king_county_fold_is_bit_identical(kc_path):
    model = Model.from_json_file(example_spec("king-county"))
    derived = derive(model.dataset, kc_path, cache=False)
    valid = np.sort(np.random.default_rng(0).permutation(derived.height)[: derived.height // 8])
    train = np.setdiff1d(np.arange(derived.height), valid)
    vocabulary = one_hot_vocabulary(model.dataset, derived)
    check_fold(derived, model.dataset, train, valid, vocabulary, model.dtype)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_class_targets_encode_bit_for_bit(n_classes):
    frame = dirty_frame().with_columns(
        pl.Series("kind", np.random.default_rng(2).choice(list("xyz")[:n_classes], 400))
    )
    spec = dirty_spec(frame).add_opt_to("price", Not(Out)).add_opt_to("kind", Out)
    spec = spec.add_opt_to("kind", Classes())
    derived = derive(spec, frame)
    valid = np.arange(0, derived.height, 5)
    train = np.setdiff1d(np.arange(derived.height), valid)
    pipe = check_fold(derived, spec, train, valid, one_hot_vocabulary(spec, derived), "float32")
    assert pipe.class_labels_ == list("xyz")[:n_classes]


def test_fit_rows_must_be_sorted_and_distinct():
    frame = dirty_frame(50)
    spec = dirty_spec(frame)
    derived = derive(spec, frame)
    with pytest.raises(ValueError, match="sorted, distinct"):
        Pipeline(spec).fit(derived, rows=np.array([3, 1, 2]))


def test_check_encoded_names_the_value_to_arrays_would_reject():
    frame = pl.DataFrame({"a": [1.0, 2.0, 1e39, 3.0], "y": [1.0, 2.0, 3.0, 4.0]})
    spec = DatasetSpec.from_frame(frame).add_opt_to("y", Out)
    derived = derive(spec, frame)
    pipe = Pipeline(spec).fit(derived, rows=np.array([0, 1, 3]))
    ids, x, y = pipe.encode(derived)
    pipe.check_encoded(ids, x, y, "float64")  # fits in float64
    with pytest.raises(DataError, match=r"input column `a` has 1e\+39 at id 3, too large"):
        pipe.check_encoded(ids, x, y, "float32")
    with pytest.raises(DataError, match=r"input column `a` has 1e\+39 at id 3, too large"):
        pipe.to_arrays(pipe.transform(derived), dtype="float32")
