"""Clipped min-max inputs: rows outside the training range stay in [0, 1]."""

from __future__ import annotations

import polars as pl
import pytest

from nnforge.data import Clipped, DatasetSpec, Normalized, Out, Pipeline, Standardized, derive
from nnforge.exceptions import SpecError


def _spec(*options) -> DatasetSpec:
    frame = pl.DataFrame({"x": [1.0], "z": [1.0], "y": [1.0]})
    spec = DatasetSpec.from_frame(frame).add_opt_to("y", Out).add_opt(Normalized)
    for option in options:
        spec.add_opt(option)
    return spec.validated()


def test_clipped_inputs_stay_in_the_fitted_range_and_outputs_stay_exact():
    spec = _spec(Clipped.except_(["y"]))
    train = derive(spec, pl.DataFrame({"x": [0.0, 10.0], "z": [1.0, 3.0], "y": [5.0, 7.0]}))
    new = derive(
        spec, pl.DataFrame({"x": [-5.0, 5.0, 40.0], "z": [2.0, 9.0, 0.0], "y": [9.0, 6.0, 3.0]})
    )
    pipe = Pipeline(spec).fit(train)
    _, x, y = pipe.to_arrays(pipe.transform(new), dtype="float64")
    assert x.tolist() == [[0.0, 0.5], [0.5, 1.0], [1.0, 0.0]]
    # the output is not clipped: it still reverts exactly, outside the fitted range too
    assert pipe.inverse_transform_outputs(y).ravel().tolist() == pytest.approx([9.0, 6.0, 3.0])


def test_without_clipping_values_extrapolate():
    spec = _spec()
    train = derive(spec, pl.DataFrame({"x": [0.0, 10.0], "z": [1.0, 3.0], "y": [5.0, 7.0]}))
    pipe = Pipeline(spec).fit(train)
    _, x, _ = pipe.to_arrays(
        pipe.transform(derive(spec, pl.DataFrame({"x": [40.0], "z": [2.0], "y": [1.0]}))),
        dtype="float64",
    )
    assert x[0, 0] == pytest.approx(4.0)


def test_clipped_output_clips_predictions_only():
    spec = _spec(Clipped)
    train = derive(spec, pl.DataFrame({"x": [0.0, 10.0], "z": [1.0, 3.0], "y": [5.0, 7.0]}))
    pipe = Pipeline(spec).fit(train)
    new = derive(spec, pl.DataFrame({"x": [1.0], "z": [2.0], "y": [9.0]}))
    _, _, y = pipe.to_arrays(pipe.transform(new), dtype="float64")
    assert y.item() == pytest.approx(2.0)  # the target itself is never clipped
    assert pipe.inverse_transform_outputs(y).item() == pytest.approx(9.0)
    preds = pipe.invert_predictions([[-0.5], [0.5], [3.0]])
    assert preds.ravel().tolist() == pytest.approx([5.0, 6.0, 7.0])


def test_clip_needs_min_max():
    frame = pl.DataFrame({"x": [1.0], "y": [1.0]})
    spec = DatasetSpec.from_frame(frame).add_opt_to("y", Out).add_opt(Standardized)
    with pytest.raises(SpecError, match=r"features\.x\.clip"):
        spec.add_opt(Clipped.except_(["y"])).validated()
