"""The model spec: validation with JSON paths, exact JSON round trips, network building."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from nnforge.data import DatasetSpec, Normalized, Out
from nnforge.exceptions import SpecError
from nnforge.model import EarlyStopping, KFolds, LayerSpec, Model, Split
from nnforge.nn import Adam, InverseTimeDecay, Momentum, PiecewiseConstant, optimizers


def _dataset() -> DatasetSpec:
    frame = pl.DataFrame({"a": [1.0, 2.0, 3.0], "b": [2.0, 1.0, 0.0], "y": [0.5, 0.1, 0.2]})
    spec = DatasetSpec.from_frame(frame, name="toy")
    return spec.add_opt_to("y", Out).add_opt(Normalized).validated()


def _model(**changes) -> Model:
    base = dict(
        dataset=_dataset(),
        layers=[LayerSpec(units="inputs+1", activation="relu")] * 2
        + [LayerSpec(units=1, activation="linear", optimizer=Momentum(learning_rate=0.01))],
        optimizer=Adam(
            learning_rate=InverseTimeDecay(
                initial_learning_rate=0.01, decay_steps=10, decay_rate=0.5
            )
        ),
        trainer=KFolds(k=3),
        early_stopping=EarlyStopping(patience=5),
        epochs=7,
        seed=11,
        dtype="float64",
    )
    base.update(changes)
    return Model(**base)


def test_json_round_trip_is_exact(tmp_path):
    model = _model()
    path = model.to_json_file(tmp_path / "spec.json")
    again = Model.from_json_file(path)
    assert again == model
    assert again.to_json() == model.to_json()
    assert json.loads(path.read_text())["trainer"] == {"name": "kfolds", "k": 3}


def test_split_trainer_and_defaults_round_trip():
    model = _model(trainer=Split(ratio=0.75), early_stopping=None, optimizer="adam")
    assert Model.from_json(model.to_json()) == model
    assert model.optimizer["epsilon"] == 1e-7  # Keras' default, as the seed copied


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_optimizer_defaults_are_the_engines(name):
    # The spec keeps the engine's config: its defaults cannot drift from the engine's.
    data = json.loads(_model().to_json())
    data["optimizer"] = {"name": name}
    data["layers"][0]["optimizer"] = name
    model = Model.from_json(json.dumps(data))
    assert model.optimizer == optimizers.get(name).get_config()
    assert model.layers[0].optimizer == optimizers.get(name).get_config()


def test_engine_objects_names_and_dicts_give_the_same_spec():
    schedule = {"name": "piecewise_constant", "boundaries": [10, 20], "values": [0.1, 0.01, 0.001]}
    as_dict = _model(optimizer={"name": "momentum", "learning_rate": schedule})
    as_object = _model(optimizer=Momentum(PiecewiseConstant([10, 20], [0.1, 0.01, 0.001])))
    assert as_dict == as_object
    assert as_dict.optimizer["learning_rate"] == schedule
    assert _model(loss="mean_squared_error").loss == "mse"  # aliases resolve to the engine's name


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("layers", 1, "units"), -3, "layers[1].units"),
        (("layers", 0, "units"), "outputs+1", "layers[0].units"),
        (("layers", 0, "activation"), "gelu", "layers[0].activation"),
        (("optimizer", "beta_1"), 1.5, "optimizer: `beta_1` must be in [0.0, 1.0]"),
        (
            ("optimizer", "learning_rate"),
            {"name": "piecewise_constant", "boundaries": [5, 2], "values": [0.1, 0.01, 0.001]},
            "optimizer: `boundaries` must be strictly increasing",
        ),
        (("optimizer", "learning_rate", "decay_rat"), 1, "unexpected keyword argument 'decay_rat'"),
        (("optimizer", "learning_rate", "name"), "cosine", "optimizer: unknown schedule"),
        (("layers", 2, "optimizer", "momentum"), -0.5, "layers[2].optimizer: `momentum`"),
        (("layers", 1, "kernel_initializer"), "ones", "layers[1].kernel_initializer: unknown"),
        (("loss",), "hinge", "loss: unknown loss 'hinge'; valid names are"),
        (("trainer", "ratio"), 0.5, "trainer.ratio: Extra inputs"),
        (("trainer", "k"), 1, "trainer.k"),
        (("batch_size",), 0, "batch_size"),
    ],
)
def test_invalid_values_name_their_json_path(path, value, where):
    data = json.loads(_model().to_json())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(SpecError, match=re.escape(where)):
        Model.from_json(json.dumps(data), source="spec.json")


def test_unknown_option_is_rejected():
    data = json.loads(_model().to_json())
    data["layers"][0]["dropuot"] = 0.1
    with pytest.raises(SpecError, match=r"layers\[0\]\.dropuot"):
        Model.from_json(json.dumps(data))


def test_missing_spec_file_is_a_clear_error(tmp_path):
    with pytest.raises(SpecError, match="spec file not found"):
        Model.from_json_file(tmp_path / "nope.json")


def test_units_resolve_against_the_number_of_inputs():
    assert LayerSpec(units="inputs+1").resolved_units(34) == 35
    assert LayerSpec(units="inputs").resolved_units(34) == 34
    assert LayerSpec(units="inputs-2").resolved_units(34) == 32
    with pytest.raises(SpecError, match="resolves to"):
        LayerSpec(units="inputs-5").resolved_units(3)


def test_build_network_follows_the_spec():
    model = _model()
    net = model.build_network(4, seeds=[1, 2])
    assert net.replicas == 2
    assert [layer.units for layer in net.layers] == [5, 5, 1]
    assert net.dtype == np.float64
    assert [type(o) for o in net.optimizers] == [Adam, Momentum]
    assert isinstance(net.optimizers[0].learning_rate, InverseTimeDecay)
    # Replica r is seeded by seeds[r] alone: the same seed gives the same weights.
    alone = model.build_network(4, seeds=[2])
    np.testing.assert_array_equal(net.layers[0].kernel[1], alone.layers[0].kernel[0])


def test_with_overrides_validates():
    model = _model()
    assert model.with_overrides(epochs=3).epochs == 3
    assert model.with_overrides(trainer=KFolds(k=5)).trainer.k == 5
    with pytest.raises(ValueError, match="epochs"):
        model.with_overrides(epochs=0)
