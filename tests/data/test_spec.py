"""DatasetSpec: builder semantics (the seed's), JSON both ways, errors naming JSON paths."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from nnforge.data import (
    AddExtractedMonth,
    AddSquared,
    DatasetSpec,
    DateFormat,
    Equal,
    FeatureSpec,
    InRange,
    IsMissing,
    Log10,
    Mapped,
    Normalized,
    Not,
    Out,
    ReplaceWith,
    ReplaceWithFeature,
    UsedInModel,
)
from nnforge.exceptions import SpecError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "king_county" / "dataset.json"


def dated() -> DatasetSpec:
    frame = pl.DataFrame({"date": ["20140101T000000"], "a": [1.0], "b": [2.0], "y": [3.0]})
    return (
        DatasetSpec.from_frame(frame)
        .add_opt_to("date", DateFormat("%Y%m%dT%H%M%S"))
        .add_opt_to("date", Not(UsedInModel))
        .add_opt_to("date", AddExtractedMonth)
        .add_opt_to("y", Out)
    )


def test_from_file_lists_columns_with_inferred_types(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('k,d,n,f,s\n"7129300520","20141013T000000",3,"1.5",x\n"2",b,4,2,y\n')
    spec = DatasetSpec.from_file(path)
    assert spec.name == "t"
    assert {k: f.dtype for k, f in spec.features.items()} == {
        "k": "int",
        "d": "str",
        "n": "int",
        "f": "float",
        "s": "str",
    }
    assert "f" in spec.summary()


def test_incl_added_features_reaches_extracted_features():
    spec = dated().add_opt(AddSquared.except_(["y", "date"]).incl_added_features())
    month = spec.features["date"].extract_month
    assert month.squared.name == "date_month_squared"
    assert spec.features["date"].squared is None  # excluded by name
    assert spec.features["a"].squared.name == "a_squared"


def test_without_incl_added_features_only_top_level_features():
    spec = dated().add_opt(AddSquared.except_(["y", "date"]))
    assert spec.features["date"].extract_month.squared is None
    spec.add_opt(Normalized.except_(["date"]))
    assert spec.features["a"].scale == "minmax"
    assert spec.features["a"].squared.scale is None  # squares untouched
    spec.add_opt(Normalized.except_(["date"]).incl_added_features())
    assert spec.features["a"].squared.scale == "minmax"
    assert spec.features["date"].extract_month.scale == "minmax"
    assert spec.features["date"].scale is None


def test_only_checks_added_feature_names_too():
    spec = dated().add_opt(AddSquared.only(["a"]))
    spec.add_opt(Log10.only(["a"]).incl_added_features())
    assert spec.features["a"].log10 is True
    assert spec.features["a"].squared.log10 is False  # `a_squared` is not in the list
    spec.add_opt(Log10.incl_added_features().only(["a"]))
    assert spec.features["a"].squared.log10 is True  # recursion below the filter


def test_not_undoes_an_option():
    spec = dated().add_opt(Log10.only(["a"]))
    spec.add_opt_to("a", Not(Log10))
    assert spec.features["a"].log10 is False
    assert spec.features["date"].used_in_model is False


def test_json_round_trip():
    spec = dated().add_opt_to("b", Mapped(InRange(0, 1), ReplaceWith(0.5)))
    spec.add_opt_to("b", Mapped(IsMissing(), ReplaceWithFeature("a")))
    spec.add_opt(AddSquared.except_(["y", "date"]).incl_added_features())
    text = spec.to_json()
    again = DatasetSpec.from_json(text)
    assert again == spec
    assert again.to_json() == text
    assert "name" not in json.loads(text)["features"]["a"]  # top-level names are the keys


def test_example_spec_file_is_valid_and_matches_the_seed():
    spec = DatasetSpec.from_json_file(EXAMPLE)
    assert spec.out_features_names() == ["price"]
    assert len(spec.in_features_names()) == 34
    assert spec.features["yr_renovated"].mapped[0].selector == Equal(0)
    assert spec.features["sqft_living"].squared.scale == "minmax"
    assert spec.features["date"].extract_timestamp.squared.filter_outliers
    for removed in ("id", "zipcode", "sqft_living15", "sqft_lot15"):
        assert removed not in spec.features


def test_example_spec_file_equals_the_builder(kc_path):
    import importlib.util

    module_path = EXAMPLE.parent / "dataset_spec.py"
    loader = importlib.util.spec_from_file_location("kc_dataset_spec", module_path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    built = module.king_county_spec(kc_path)
    assert built.to_dict() == DatasetSpec.from_json_file(EXAMPLE).to_dict()


# ---- errors name the JSON path --------------------------------------------------------------


def load(features: dict) -> DatasetSpec:
    return DatasetSpec.from_dict({"features": features})


def test_unknown_option_names_the_path():
    with pytest.raises(SpecError, match=r"features\.price\.log100: Extra inputs"):
        load({"price": {"log100": True}})


def test_wrong_type_names_the_path():
    with pytest.raises(SpecError, match=r"features\.price\.log10: Input should be a valid boolean"):
        load({"price": {"log10": "maybe"}})


def test_bad_selector_names_the_path():
    bad = {"yr_renovated": {"mapped": [{"selector": {"kind": "equals"}, "op": {}}]}}
    with pytest.raises(SpecError, match=r"features\.yr_renovated\.mapped\[0\]\.selector"):
        load(bad)


def test_union_tags_are_left_out_of_the_path_but_not_feature_names():
    # pydantic puts the tag ("less_than") in the location; a feature may have the same name.
    bad = {"less_than": {"mapped": [{"selector": {"kind": "less_than", "value": "x"}, "op": {}}]}}
    with pytest.raises(
        SpecError, match=r"features\.less_than\.mapped\[0\]\.selector\.value: Input should"
    ):
        load(bad)
    ranged = {"a": {"mapped": [{"selector": {"kind": "in_range", "low": 2, "high": 1}, "op": {}}]}}
    with pytest.raises(SpecError, match=r"features\.a\.mapped\[0\]\.selector: `low` must be"):
        load(ranged)


def test_reference_to_missing_feature_names_the_path():
    op = {"kind": "replace_with_feature", "feature": "yr_builtt"}
    bad = {"yr_renovated": {"mapped": [{"selector": {"kind": "equal", "value": 0}, "op": op}]}}
    with pytest.raises(
        SpecError, match=r"features\.yr_renovated\.mapped\[0\]\.op\.feature: unknown feature"
    ):
        load(bad)


@pytest.mark.parametrize(
    ("features", "path"),
    [
        ({"y": {"output": True, "squared": {"name": "y2"}}}, r"features\.y\.squared"),
        ({"d": {"extract_month": {"name": "m"}}}, r"features\.d\.extract_month: needs a `date_f"),
        ({"a": {"missing": "constant"}}, r"features\.a\.fill_value: required"),
        ({"a": {"one_hot": {}, "log10": True}}, r"features\.a\.log10: cannot be combined"),
        ({"a": {"squared": {}}}, r"features\.a\.squared\.name: an added feature needs a name"),
        ({"a": {"name": "b"}}, r"features\.a\.name: must match its key"),
        ({"id": {}}, r"id_column: the attached id column `id` clashes"),
    ],
)
def test_semantic_errors_name_the_path(features, path):
    with pytest.raises(SpecError, match=path):
        load(features)


def test_builder_rejects_unknown_names_and_non_options():
    spec = dated()
    with pytest.raises(SpecError, match=r"no feature named `nope`; available"):
        spec.add_opt_to("nope", Log10)
    with pytest.raises(SpecError, match=r"unknown features \['nope'\]"):
        spec.add_opt(Log10.only(["nope"]))
    with pytest.raises(SpecError, match="cannot remove unknown features"):
        spec.remove_features(["nope"])
    with pytest.raises(TypeError, match="feature option"):
        spec.add_opt_to("a", "log10")


def test_invalid_json_text():
    with pytest.raises(SpecError, match="not valid JSON"):
        DatasetSpec.from_json("{")
    assert isinstance(FeatureSpec(), FeatureSpec)
