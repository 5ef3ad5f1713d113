"""Bad input: every error names what is wrong and where, and nothing is written on failure."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from synthetic_frames import house_frame, write_csv

from nnforge.data import (
    DataFileNotFoundError,
    DatasetSpec,
    DateFormat,
    FilterOutliers,
    Log10,
    Normalized,
    Out,
    Pipeline,
    Standardized,
    derive,
    read_table,
)
from nnforge.exceptions import DataError


def simple_spec(path) -> DatasetSpec:
    return DatasetSpec.from_file(path).add_opt_to("y", Out)


# ---- files ----------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataFileNotFoundError, match=r"nope\.csv.*does not exist"):
        read_table(path)
    with pytest.raises(FileNotFoundError):  # also catchable as the builtin
        read_table(path)


def test_unreadable_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=r"cannot read data file .*broken\.parquet"):
        read_table(path)


def test_directory_and_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_table(tmp_path)
    path = tmp_path / "table.xlsx"
    path.write_text("a\n1\n")
    with pytest.raises(DataError, match=r"unknown extension `\.xlsx`"):
        read_table(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv.*is empty"):
        read_table(path)


def test_header_only(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b,y\n")
    with pytest.raises(DataError, match=r"header\.csv.*header \(a, b, y\) but no data rows"):
        read_table(path)


# ---- derive ---------------------------------------------------------------------------------


def test_spec_column_not_in_data_lists_available(tmp_path):
    path = write_csv(tmp_path / "t.csv", pl.DataFrame({"a": [1.0, 2.0], "y": [1.0, 2.0]}))
    spec = DatasetSpec.from_frame(pl.DataFrame({"a": [1.0], "b": [1.0], "y": [1.0]}))
    expected = r"t\.csv.*\['b'\] not found.*available columns: \['a', 'y'\]"
    with pytest.raises(DataError, match=expected):
        derive(spec.add_opt_to("y", Out), path, cache=False)


@pytest.mark.parametrize("bad", ["?", "abc"])
def test_non_numeric_text_names_column_row_and_value(tmp_path, bad):
    path = tmp_path / "t.csv"
    path.write_text(f"a,y\n1,1\n2.5,2\n{bad},3\n4,4\n")
    spec = DatasetSpec.from_frame(pl.DataFrame({"a": [1.0], "y": [1.0]})).add_opt_to("y", Out)
    with pytest.raises(DataError) as info:
        derive(spec, path, cache=False)
    message = str(info.value)
    assert "t.csv" in message
    assert "`a`" in message
    assert f"{bad!r}" in message
    assert "row 3 (line 4" in message


def test_missing_values_error_policy_names_column_and_rows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,1\n,2\n3,3\n,4\n")
    with pytest.raises(DataError, match=r"`a` has 2 missing value\(s\) at data row\(s\) 2, 4"):
        derive(simple_spec(path), path, cache=False)


def test_unparsable_date_names_row_and_value(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("d,y\n20141013T000000,1\n2014-10-13,2\n")
    spec = simple_spec(path).add_opt_to("d", DateFormat("%Y%m%dT%H%M%S"))
    with pytest.raises(DataError, match=r"`d`.*'2014-10-13' at row 2 \(line 3"):
        derive(spec, path, cache=False)


@pytest.mark.parametrize("bad", ["0", "-5"])
def test_log10_of_non_positive_names_column_and_first_row(tmp_path, bad):
    path = tmp_path / "t.csv"
    path.write_text(f"a,y\n10,1\n100,2\n{bad},3\n{bad},4\n")
    spec = simple_spec(path).add_opt_to("a", Log10)
    with pytest.raises(DataError, match=r"log10 of column `a`.*at row 3 \(line 4.*2 value"):
        derive(spec, path, cache=False)


def test_duplicate_ids_are_rejected():
    frame = pl.DataFrame({"k": [1, 1, 2], "y": [1.0, 2.0, 3.0]})
    spec = DatasetSpec.from_frame(frame).add_opt_to("y", Out)
    spec.features["k"].is_id = True
    with pytest.raises(DataError, match=r"id column `k` is not unique"):
        derive(spec, frame)


def test_nothing_written_when_derive_fails(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,1\n?,2\n")
    cache = tmp_path / "cache"
    spec = DatasetSpec.from_frame(pl.DataFrame({"a": [1.0], "y": [1.0]})).add_opt_to("y", Out)
    with pytest.raises(DataError):
        derive(spec, path, cache=cache)
    assert not cache.exists() or not any(cache.iterdir())


# ---- fit ------------------------------------------------------------------------------------


def test_no_rows_left_after_outlier_filtering():
    # Feature j has one extreme value, on row j: together they reject every row.
    n = 8
    data = {f"f{j}": [1000.0 if i == j else float(i + 1) for i in range(n)] for j in range(n)}
    frame = pl.DataFrame({**data, "y": np.arange(float(n))})
    spec = DatasetSpec.from_frame(frame).add_opt(FilterOutliers.except_(["y"])).add_opt_to("y", Out)
    with pytest.raises(DataError, match=r"no training rows left.*8 outside the Tukey fences"):
        Pipeline(spec).fit(derive(spec, frame))


@pytest.mark.parametrize("option", [Normalized, Standardized])
def test_a_column_constant_on_the_fit_rows_scales_to_zero_with_a_note(option, caplog):
    frame = pl.DataFrame({"a": [3.0, 3.0, 3.0, 5.0], "y": [1.0, 2.0, 3.0, 4.0]})
    spec = DatasetSpec.from_frame(frame).add_opt_to("a", option).add_opt_to("y", Out)
    derived = derive(spec, frame)
    with caplog.at_level("INFO", logger="nnforge"):
        pipe = Pipeline(spec).fit(derived[:3])  # the fold's training rows: `a` is constant
    assert "column `a` is constant (3.0) on the 3 training rows" in caplog.text
    out = pipe.transform(derived)
    np.testing.assert_array_equal(out["a"], [0.0, 0.0, 0.0, 2.0])
    back = pipe.inverse_transform(out)
    np.testing.assert_array_equal(back["a"], frame["a"])  # still an exact round trip
    again = Pipeline.from_json(pipe.to_json())
    assert again.transform(derived)["a"].to_list() == out["a"].to_list()


def test_transform_missing_values_under_error_policy_names_ids():
    frame = house_frame()
    spec = DatasetSpec.from_frame(frame.select("sqft", "price")).add_opt_to("price", Out)
    pipe = Pipeline(spec).fit(derive(spec, frame.select("sqft", "price")))
    bad = derive(spec, frame.select("sqft", "price")).with_columns(
        pl.when(pl.col("id") == 7).then(None).otherwise(pl.col("sqft")).alias("sqft")
    )
    with pytest.raises(DataError, match=r"`sqft` has 1 missing value.*id\(s\) 7"):
        pipe.transform(bad)


def test_transform_rejects_frames_without_inputs():
    frame = house_frame().select("sqft", "price")
    spec = DatasetSpec.from_frame(frame).add_opt_to("price", Out)
    pipe = Pipeline(spec).fit(derive(spec, frame))
    with pytest.raises(DataError, match=r"\['sqft'\] missing from the frame"):
        pipe.transform(frame.drop("sqft"))
