"""derive + Pipeline on synthetic frames and on the King County file."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from synthetic_frames import house_frame

from nnforge.data import (
    AddExtractedMonth,
    AddExtractedTimestamp,
    AddSquared,
    CyclicalMonth,
    DatasetSpec,
    DateFormat,
    Equal,
    FilterOutliers,
    Log10,
    Mapped,
    Missing,
    Normalized,
    Not,
    OneHot,
    Out,
    Pipeline,
    ReplaceWithFeature,
    Standardized,
    UsedInModel,
    derive,
)
from nnforge.exceptions import DataError, NotFittedError


def house_spec(frame: pl.DataFrame) -> DatasetSpec:
    return (
        DatasetSpec.from_frame(frame, name="houses")
        .add_opt_to("date", DateFormat("%Y%m%dT%H%M%S"))
        .add_opt_to("date", Not(UsedInModel))
        .add_opt_to("date", AddExtractedMonth)
        .add_opt_to("date", AddExtractedTimestamp)
        .add_opt_to("yr_renovated", Mapped(Equal(0), ReplaceWithFeature("yr_built")))
        .add_opt_to("price", Out)
        .add_opt_to("city", OneHot())
        .add_opt(Log10.only(["sqft", "price"]))
        .add_opt(AddSquared.except_(["price", "date", "city"]).incl_added_features())
        .add_opt(Normalized.except_(["date", "city"]).incl_added_features())
    )


def test_derive_stateless_steps():
    frame = house_frame()
    out = derive(house_spec(frame), frame)
    assert out.columns[0] == "id"
    assert out["id"].to_list() == list(range(1, frame.height + 1))
    np.testing.assert_allclose(out["sqft"], np.log10(frame["sqft"]), rtol=0, atol=1e-15)
    # squares are of the logged value (log10 before squares, as the seed)
    np.testing.assert_allclose(out["sqft_squared"], out["sqft"] ** 2)
    expected_renov = np.where(frame["yr_renovated"] == 0, frame["yr_built"], frame["yr_renovated"])
    np.testing.assert_array_equal(out["yr_renovated"], expected_renov)
    assert out["date_month"].to_list() == [float(d[4:6]) for d in frame["date"]]
    assert out["date"].to_list() == frame["date"].to_list()  # raw date text kept for joins
    assert "date_month_squared" in out.columns
    assert "date_timestamp_squared" in out.columns
    assert out["price"].dtype == pl.Float64
    assert out["city"].dtype == pl.String


def test_fit_uses_only_fit_rows_and_never_drops_other_rows():
    frame = house_frame(200)
    spec = house_spec(frame).add_opt(FilterOutliers.only(["sqft", "rooms"]))
    derived = derive(spec, frame)
    # make a clear outlier in the validation part only
    derived = derived.with_columns(
        pl.when(pl.col("id") == 200).then(9.0).otherwise(pl.col("sqft")).alias("sqft")
    )
    train, valid = derived[:150], derived[150:]
    pipe = Pipeline(spec).fit(train)
    assert pipe.scalers_["rooms"].lo == train["rooms"].min()
    out = pipe.transform(valid)
    assert out.height == valid.height  # validation rows are never dropped
    assert out.filter(pl.col("id") == 200)["sqft"][0] > 1.0  # outside the training range
    trained = pipe.transform(train, training=True)
    assert trained.height == train.height - pipe.n_dropped_
    ids, x, y = pipe.to_arrays(out, dtype="float64")
    assert x.shape == (valid.height, len(pipe.input_features_))
    assert y.shape == (valid.height, 1)
    np.testing.assert_array_equal(ids, valid["id"].to_numpy())


def test_feature_names_and_groups():
    frame = house_frame()
    spec = house_spec(frame)
    pipe = Pipeline(spec).fit(derive(spec, frame))
    assert pipe.output_features_ == ["price"]
    assert pipe.input_features_[:4] == [
        "date_month",
        "date_month_squared",
        "date_timestamp",
        "date_timestamp_squared",
    ]
    assert pipe.feature_groups_["sqft_squared"] == "sqft"
    assert pipe.feature_groups_["date_month_squared"] == "date"
    assert pipe.feature_groups_["city_a"] == "city"
    assert {"city_a", "city_b", "city_c"} <= set(pipe.input_features_)
    assert "price" not in pipe.input_features_
    assert "date" not in pipe.input_features_


def test_round_trips_are_exact():
    frame = house_frame(300)
    spec = house_spec(frame).add_opt_to("rooms", Standardized)
    derived = derive(spec, frame)
    pipe = Pipeline(spec).fit(derived)
    out = pipe.transform(derived)
    _ids, _x, y = pipe.to_arrays(out, dtype="float64")
    np.testing.assert_allclose(pipe.inverse_transform_outputs(y)[:, 0], frame["price"], rtol=1e-12)
    # any leading axes (replicas)
    stacked = pipe.inverse_transform_outputs(np.stack([y, y]))
    assert stacked.shape == (2, frame.height, 1)
    back = pipe.inverse_transform(out)
    for col in ("price", "sqft", "rooms", "yr_built"):
        np.testing.assert_allclose(back[col], frame[col].cast(pl.Float64), rtol=1e-12)
    assert back["city"].to_list() == frame["city"].to_list()
    assert not any(c.endswith("_squared") or c.startswith("city_") for c in back.columns)
    assert back.columns[0] == "id"


def test_cyclical_month_round_trip():
    frame = pl.DataFrame({"m": [float(i) for i in range(1, 13)], "y": np.arange(12.0)})
    spec = DatasetSpec.from_frame(frame).add_opt_to("m", CyclicalMonth).add_opt_to("y", Out)
    pipe = Pipeline(spec)
    out = pipe.fit_transform(derive(spec, frame))
    assert pipe.input_features_ == ["m_sin", "m_cos"]
    np.testing.assert_allclose(out["m_sin"] ** 2 + out["m_cos"] ** 2, 1.0)
    np.testing.assert_allclose(pipe.inverse_transform(out)["m"], frame["m"], atol=1e-12)


def test_pipeline_json_round_trip_gives_identical_arrays():
    frame = house_frame(100)
    spec = house_spec(frame).add_opt(FilterOutliers.only(["sqft"]))
    derived = derive(spec, frame)
    pipe = Pipeline(spec).fit(derived[:80])
    again = Pipeline.from_json(pipe.to_json())
    a = pipe.to_arrays(pipe.transform(derived[80:]))
    b = again.to_arrays(again.transform(derived[80:]))
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert again.input_features_ == pipe.input_features_
    assert json.loads(again.to_json()) == json.loads(pipe.to_json())


def test_to_arrays_casts_once_to_the_model_dtype():
    frame = house_frame()
    spec = house_spec(frame)
    pipe = Pipeline(spec).fit(derive(spec, frame))
    _ids, x, y = pipe.to_arrays(pipe.transform(derive(spec, frame)), dtype="float32")
    assert x.dtype == np.float32
    assert y.dtype == np.float32
    assert x.flags.c_contiguous
    with pytest.raises(ValueError, match="dtype"):
        pipe.to_arrays(pipe.transform(derive(spec, frame)), dtype="int8")


def test_new_data_without_the_output_column():
    frame = house_frame()
    spec = house_spec(frame)
    pipe = Pipeline(spec).fit(derive(spec, frame))
    new = derive(spec, frame.drop("price"))
    _ids, x, y = pipe.to_arrays(pipe.transform(new))
    assert y is None
    assert x.shape[0] == frame.height


def test_missing_value_policies_fill_from_fit_rows():
    frame = pl.DataFrame(
        {"a": [1.0, None, 3.0, 5.0, None], "b": [2.0, 4.0, None, 8.0, 10.0], "y": [1.0] * 5}
    )
    spec = (
        DatasetSpec.from_frame(frame)
        .add_opt_to("a", Missing("median"))
        .add_opt_to("a", AddSquared)
        .add_opt_to("b", Missing("drop"))
        .add_opt_to("y", Out)
    )
    derived = derive(spec, frame)
    pipe = Pipeline(spec).fit(derived)
    assert pipe.fill_values_["a"] == 3.0
    assert pipe.fill_values_["a_squared"] == 9.0
    train = pipe.transform(derived, training=True)
    assert train.height == 4
    assert pipe.n_dropped_ == 1
    # transform never writes fitted state: other rows with nothing to drop leave it as fitted
    assert pipe.transform(derived[:2], training=True).height == 2
    assert pipe.n_dropped_ == 1
    valid = pipe.transform(derived)
    assert valid.height == 5  # not dropped: filled with the training median of b
    assert valid["b"][2] == pipe.fill_values_["b"]
    assert valid["a_squared"][1] == 9.0


def test_missing_constant_and_mean():
    frame = pl.DataFrame({"a": [10.0, None, 1000.0], "b": [1.0, None, 3.0], "y": [1.0, 2, 3]})
    spec = (
        DatasetSpec.from_frame(frame)
        .add_opt_to("a", Missing("constant", 100))
        .add_opt_to("a", Log10)
        .add_opt_to("b", Missing("mean"))
        .add_opt_to("y", Out)
    )
    out = Pipeline(spec).fit_transform(derive(spec, frame))
    np.testing.assert_allclose(out["a"], [1.0, 2.0, 3.0], rtol=1e-15)  # constant in original units
    assert out["b"][1] == 2.0


def test_one_hot_unknown_policies():
    train = pl.DataFrame({"c": ["x", "y", "x"], "t": [1.0, 2.0, 3.0]})
    new = pl.DataFrame({"c": ["x", "z"], "t": [1.0, 2.0]})
    for policy, expected in [("zeros", [[1, 0], [0, 0]]), ("column", [[1, 0, 0], [0, 0, 1]])]:
        spec = DatasetSpec.from_frame(train).add_opt_to("c", OneHot(policy)).add_opt_to("t", Out)
        pipe = Pipeline(spec).fit(derive(spec, train))
        _, x, _ = pipe.to_arrays(pipe.transform(derive(spec, new)))
        np.testing.assert_array_equal(x, expected)
    spec = DatasetSpec.from_frame(train).add_opt_to("c", OneHot()).add_opt_to("t", Out)
    pipe = Pipeline(spec).fit(derive(spec, train))
    with pytest.raises(DataError, match=r"not seen at fit time: \['z'\]"):
        pipe.transform(derive(spec, new))


def test_not_fitted():
    frame = house_frame()
    pipe = Pipeline(house_spec(frame))
    with pytest.raises(NotFittedError):
        pipe.transform(derive(house_spec(frame), frame))


def test_tukey_fences_and_iqr_zero_columns_are_not_filtered():
    values = [10.0, 11, 12, 13, 14, 15, 16, 17, 18, 100]
    frame = pl.DataFrame({"a": values, "flag": [0.0] * 9 + [1.0], "y": np.arange(10.0)})
    spec = DatasetSpec.from_frame(frame).add_opt(FilterOutliers.except_(["y"])).add_opt_to("y", Out)
    pipe = Pipeline(spec).fit(derive(spec, frame))
    q1, q3 = np.quantile(values, [0.25, 0.75])
    assert pipe.fences_["a"].low == pytest.approx(q1 - 1.5 * (q3 - q1))
    assert pipe.unfiltered_ == ["flag"]  # IQR 0: every 1 would be an "outlier"
    assert pipe.n_dropped_ == 1


def test_king_county_end_to_end(kc_path, tmp_path):
    from pathlib import Path

    spec_file = Path(__file__).resolve().parents[2] / "examples" / "king_county" / "dataset.json"
    spec = DatasetSpec.from_json_file(spec_file)
    frame = derive(spec, kc_path, cache=False)
    rng = np.random.default_rng(0)
    is_train = rng.random(frame.height) < 7 / 8
    train, valid = frame.filter(is_train), frame.filter(~is_train)
    pipe = Pipeline(spec).fit(train)
    t = pipe.transform(train, training=True)
    v = pipe.transform(valid)
    _, x, _y = pipe.to_arrays(t, dtype="float32")
    _, _xv, yv = pipe.to_arrays(v, dtype="float32")
    assert frame.shape == (21613, 37)
    assert x.shape[1] == 34
    assert len(pipe.input_features_) == 34
    assert v.height == valid.height
    assert t.height == train.height - pipe.n_dropped_ > 0
    assert x.min() >= 0.0
    assert x.max() <= 1.0
    dollars = pipe.inverse_transform_outputs(yv.astype(np.float64))
    np.testing.assert_allclose(dollars[:, 0], 10 ** valid["price"].to_numpy(), rtol=1e-6)


def test_save_load_and_passthrough_columns(tmp_path):
    frame = house_frame(60)
    spec = house_spec(frame)
    derived = derive(spec, frame).with_columns(pl.lit(3).alias("fold"))
    pipe = Pipeline(spec).fit(derived)
    path = pipe.save(tmp_path / "pipelines" / "fold_0.json")
    again = Pipeline.load(path)
    out = again.transform(derived)
    assert out["fold"].to_list() == [3] * 60  # extra columns pass through untouched
    assert out.columns[0] == "id"
    assert "fitted on 60 rows" in repr(again)
    with pytest.raises(ValueError, match=r"`y` must have 1 column"):
        again.inverse_transform_outputs(np.zeros((5, 2)))
