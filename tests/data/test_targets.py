"""Class targets: labels from the whole file, their encoding, and the way back to labels."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from nnforge.data import Classes, DatasetSpec, Normalized, Out, Pipeline, derive
from nnforge.data.targets import PROBABILITY_EPS, class_probabilities, resolve_classes
from nnforge.exceptions import DataError, SpecError


def _spec(frame: pl.DataFrame, target: str, labels=None) -> DatasetSpec:
    spec = DatasetSpec.from_frame(frame)
    drop = [c for c in frame.columns if c not in ("x", target)]
    spec.remove_features(drop).add_opt_to("x", Normalized).add_opt_to(target, Out)
    return spec.add_opt_to(target, Classes(labels)).validated()


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "species": ["b", "a", "c", "a", "b", "c"],
            "sick": [0, 1, 0, 1, 1, 10],
        }
    )


def test_three_string_classes_one_hot_and_back(frame):
    spec = resolve_classes(_spec(frame, "species"), derive(_spec(frame, "species"), frame))
    assert spec.features["species"].classes.labels == ["a", "b", "c"]
    pipe = Pipeline(spec).fit(derive(spec, frame))
    assert pipe.output_features_ == ["species_a", "species_b", "species_c"]
    transformed = pipe.transform(derive(spec, frame))
    _, _, y = pipe.to_arrays(transformed, dtype="float64")
    expected = np.eye(3)[[1, 0, 2, 0, 1, 2]]
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(pipe.inverse_transform_outputs(y), expected)
    back = pipe.inverse_transform(transformed)
    assert back["species"].to_list() == frame["species"].to_list()
    assert Pipeline.from_json(pipe.to_json()).classes_ == {"species": ["a", "b", "c"]}


def test_two_integer_classes_one_sigmoid_output(frame):
    rows = frame.filter(pl.col("sick") < 2)
    spec = _spec(rows, "sick")
    spec = resolve_classes(spec, derive(spec, rows))
    assert spec.features["sick"].classes.labels == [0, 1]  # integers stay integers
    pipe = Pipeline(spec).fit(derive(spec, rows))
    assert pipe.output_features_ == ["sick"]
    _, _, y = pipe.to_arrays(pipe.transform(derive(spec, rows)), dtype="float64")
    np.testing.assert_array_equal(y[:, 0], rows["sick"].to_numpy())
    proba = pipe.inverse_transform_outputs(np.array([[0.25], [1.0]]))
    np.testing.assert_allclose(proba, [[0.75, 0.25], [0.0, 1.0]])
    back = pipe.inverse_transform(pipe.transform(derive(spec, rows)))
    assert back["sick"].to_list() == rows["sick"].to_list()


def test_integer_labels_sort_numerically(frame):
    spec = _spec(frame, "sick")
    assert resolve_classes(spec, derive(spec, frame)).features["sick"].classes.labels == [0, 1, 10]


def test_fixed_labels_keep_their_order_and_reject_others(frame):
    spec = _spec(frame, "species", labels=["c", "b", "a"])
    pipe = Pipeline(spec).fit(derive(spec, frame))
    assert pipe.output_features_ == ["species_c", "species_b", "species_a"]
    with pytest.raises(DataError, match=r"label\(s\) \['c'\].*row 3"):
        derive(_spec(frame, "species", labels=["a", "b"]), frame)


def test_one_class_is_an_error(frame):
    rows = frame.filter(pl.col("species") == "a")
    spec = _spec(rows, "species")
    with pytest.raises(DataError, match="at least 2 classes"):
        resolve_classes(spec, derive(spec, rows))


def test_float32_probabilities_are_clipped_away_from_0_and_1():
    saturated = np.array([[1.0], [0.0]], dtype=np.float32)
    proba = class_probabilities(saturated, 2, clip=True)
    assert proba.min() == pytest.approx(PROBABILITY_EPS)
    assert (proba < 1.0).all()
    softmax = class_probabilities(np.array([[1.0, 0.0, 0.0]]), 3, clip=True)
    assert softmax.min() > 0
    np.testing.assert_allclose(softmax.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"output": False}, "features.species.classes"),
        ({"one_hot": {}}, "features.species.one_hot"),
        ({"scale": "minmax"}, "features.species.scale"),
    ],
)
def test_invalid_class_targets_name_their_path(change, path):
    data = {"features": {"x": {}, "species": {"output": True, "classes": {}, **change}}}
    with pytest.raises(SpecError, match=path):
        DatasetSpec.from_dict(data)


def test_class_target_must_be_the_only_output():
    data = {"features": {"x": {"output": True}, "species": {"output": True, "classes": {}}}}
    with pytest.raises(SpecError, match="only output"):
        DatasetSpec.from_dict(data)
