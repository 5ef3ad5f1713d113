"""The model specification: dataset spec, layers, loss, optimizer, trainer, seed and dtype.

A :class:`Model` is validated data (pydantic) and round-trips through JSON exactly, so the same
object is written by the Python builder, stored in a run directory and run by the CLI::

    model = Model(
        dataset=dataset_spec,
        layers=[LayerSpec(units="inputs+1", activation="relu")] * 8
        + [LayerSpec(units=1, activation="linear")],
        batch_size=128,
        trainer=KFolds(k=8),
        epochs=500,
    )
    model.to_json_file("spec.json")
    assert Model.from_json_file("spec.json") == model
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from nnforge._io import atomic_write_text
from nnforge._validation import format_validation_error
from nnforge.data import DatasetSpec
from nnforge.data.targets import n_encoded_outputs
from nnforge.exceptions import SpecError
from nnforge.nn import Dense, Network, activations, initializers, losses, optimizers

__all__ = [
    "EarlyStopping",
    "KFolds",
    "LayerSpec",
    "Metric",
    "Model",
    "Split",
]


class _Spec(BaseModel):
    """Base of every spec: unknown keys are errors and instances are immutable values."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- engine objects: described by the engine's own configs -------------------------------------


def _engine_config(get: Callable[[Any], Any], *, compact: bool) -> BeforeValidator:
    """Validate a name, config dict or engine object by building it with the registry's ``get``.

    The spec stores the object's ``get_config()``: the engine's defaults, bounds and accepted
    names are the spec's (as Keras' ``optimizers.get``/``serialize``), so the two cannot drift.
    ``compact`` stores a config without arguments as its bare name (``"relu"``).
    """

    def build(value: Any) -> str | dict[str, Any]:
        try:
            config = get(value).get_config()
        except (TypeError, ValueError) as exc:  # pydantic reports ValueErrors with their path
            raise ValueError(str(exc)) from None
        return config["name"] if compact and list(config) == ["name"] else config

    return BeforeValidator(build)


ActivationName = Annotated[str, _engine_config(activations.get, compact=True)]
InitializerConfig = Annotated[str | dict[str, Any], _engine_config(initializers.get, compact=True)]
LossName = Annotated[str, _engine_config(losses.get, compact=True)]
OptimizerConfig = Annotated[dict[str, Any], _engine_config(optimizers.get, compact=False)]


# -- layers ------------------------------------------------------------------------------------

_UNITS_PATTERN = re.compile(r"^inputs\s*(?:([+-])\s*(\d+))?$")


class LayerSpec(_Spec):
    """One dense layer. ``units`` may be ``"inputs"`` or ``"inputs+N"`` (resolved at fit time)."""

    units: int | str
    activation: ActivationName = "relu"
    kernel_initializer: InitializerConfig = "glorot_uniform"
    bias_initializer: InitializerConfig = "zeros"
    dropout: float = Field(default=0.0, ge=0, lt=1)
    optimizer: OptimizerConfig | None = Field(
        default=None, description="this layer's optimizer; null: the model's"
    )

    @field_validator("units")
    @classmethod
    def _check_units(cls, units: int | str) -> int | str:
        if isinstance(units, int):
            if units < 1:
                msg = f"must be a positive integer, got {units}"
                raise ValueError(msg)
            return units
        if not _UNITS_PATTERN.match(units.strip()):
            msg = f"must be an integer, 'inputs' or 'inputs+N', got {units!r}"
            raise ValueError(msg)
        return units.strip()

    def resolved_units(self, n_inputs: int) -> int:
        """The number of units once the number of model inputs is known."""
        if isinstance(self.units, int):
            return self.units
        sign, offset = _UNITS_PATTERN.match(self.units).groups()  # type: ignore[union-attr]
        delta = int(offset or 0) * (-1 if sign == "-" else 1)
        units = n_inputs + delta
        if units < 1:
            msg = f"`units`={self.units!r} resolves to {units} for {n_inputs} inputs"
            raise SpecError(msg)
        return units


# -- trainers ----------------------------------------------------------------------------------


class KFolds(_Spec):
    """K-fold cross-validation: every row is predicted once by a model that never saw it."""

    name: Literal["kfolds"] = "kfolds"
    k: int = Field(default=8, ge=2)


class Split(_Spec):
    """One train/validation split; ``ratio`` is the training share."""

    name: Literal["split"] = "split"
    ratio: float = Field(default=0.8, gt=0, lt=1)


TrainerSpec = Annotated[KFolds | Split, Field(discriminator="name")]


class EarlyStopping(_Spec):
    """Stop a fold when its inner validation loss stops improving, then restore the best epoch.

    The monitored rows are split off *inside* each fold's training rows (``validation_fraction``),
    never taken from the held-out fold, whose score would otherwise be flattered.
    """

    patience: int = Field(default=20, ge=1)
    min_delta: float = Field(default=0.0, ge=0)
    validation_fraction: float = Field(default=0.1, gt=0, lt=0.5)


Metric = Literal["log_loss", "accuracy", "balanced_accuracy", "roc_auc", "r2", "mae", "loss"]
# The loss a class target needs, by its number of encoded outputs (1: sigmoid, k: softmax).
_CLASS_HEAD = {
    True: ("sigmoid", "binary_crossentropy"),
    False: ("softmax", "categorical_crossentropy"),
}
_CLASSIFICATION_METRICS = ("log_loss", "accuracy", "balanced_accuracy", "roc_auc")

# -- the model ---------------------------------------------------------------------------------


class Model(_Spec):
    """Everything needed to go from a data file to a trained, validated model."""

    dataset: DatasetSpec
    layers: list[LayerSpec] = Field(min_length=1)
    loss: LossName = "mse"
    optimizer: OptimizerConfig = Field(default="adam", validate_default=True)
    batch_size: int = Field(default=128, ge=1)
    epochs: int = Field(default=100, ge=1)
    trainer: TrainerSpec = KFolds()
    early_stopping: EarlyStopping | None = None
    validate_every: int = Field(
        default=1, ge=0, description="validation metrics every N epochs; 0: last epoch only"
    )
    seed: int = Field(default=0, ge=0)
    dtype: Literal["float32", "float64"] = "float32"
    metric: Metric | None = Field(
        default=None,
        description=(
            "scores the folds (best fold, summary) and is what early stopping monitors; default: "
            "log_loss for a class target, else r2 (with early stopping on the loss)"
        ),
    )
    data: str | None = Field(
        default=None, description="the data file, relative to the spec file (or absolute)"
    )
    backend: Literal["numpy", "jax"] = Field(
        default="numpy",
        description="what trains the network: NumPy (reference) or JAX (nnforge[jax], compiled)",
    )

    @model_validator(mode="after")
    def _trainable(self) -> Model:
        problems = list(_head_problems(self))
        if problems:
            raise ValueError("; ".join(f"{path}: {msg}" for path, msg in problems))
        return self

    # -- the task ------------------------------------------------------------------------------

    @property
    def task(self) -> str:
        """``"classification"`` for a class target, else ``"regression"``."""
        return "classification" if self.dataset.class_target else "regression"

    @property
    def selection_metric(self) -> str:
        """The metric that scores folds: ``metric``, else log loss or R² by task."""
        if self.metric is not None and self.metric != "loss":
            return self.metric
        return "log_loss" if self.task == "classification" else "r2"

    @property
    def monitor_metric(self) -> str:
        """What early stopping watches: ``metric``, else the loss (log loss for classes)."""
        return self.metric or "loss"

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; the dataset part in its compact form (defaults left out)."""
        data = self.model_dump(mode="json")
        data["dataset"] = self.dataset.to_dict()
        return data

    def to_json(self) -> str:
        """The spec as indented JSON (what the CLI runs)."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> Model:
        """Validate a plain dict; errors become :class:`SpecError` naming each JSON path."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(format_validation_error(exc, f"spec {source}", data)) from None

    @classmethod
    def from_json(cls, text: str, *, source: str = "<string>") -> Model:
        """Parse and validate JSON; errors name the JSON path of each problem."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"invalid spec {source}: not valid JSON: {exc}"
            raise SpecError(msg) from None
        return cls.from_dict(data, source=source)

    def to_json_file(self, path: str | Path) -> Path:
        """Write the spec atomically (temporary name, then rename)."""
        return atomic_write_text(Path(path), self.to_json() + "\n")

    @classmethod
    def from_json_file(cls, path: str | Path) -> Model:
        """Read a spec file written by :meth:`to_json_file` (or by hand)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            msg = f"spec file not found: {path}"
            raise SpecError(msg) from None
        return cls.from_json(text, source=str(path))

    # -- derived values ------------------------------------------------------------------------

    def with_overrides(self, **changes: Any) -> Model:
        """A validated copy with some top-level fields replaced (e.g. ``epochs=5``)."""
        data = json.loads(self.to_json())
        for key, value in changes.items():
            data[key] = value.model_dump() if isinstance(value, BaseModel) else value
        return Model.model_validate(data)

    def with_dataset(self, dataset: DatasetSpec) -> Model:
        """A validated copy with another dataset spec (e.g. its classes filled from the file);
        a head that does not fit the new outputs is a :class:`SpecError` naming its path."""
        data = {**self.to_dict(), "dataset": dataset.to_dict()}
        return Model.from_dict(data, source="with the classes found in the data")

    def data_path(self, spec_file: str | Path | None = None) -> Path | None:
        """``data`` resolved against the spec file's folder (None when the spec names none)."""
        if self.data is None:
            return None
        path = Path(self.data).expanduser()
        if not path.is_absolute() and spec_file is not None:
            path = Path(spec_file).parent / path
        return path

    def layer_units(self, n_inputs: int) -> list[int]:
        """Units of every layer once the number of inputs is known."""
        return [layer.resolved_units(n_inputs) for layer in self.layers]

    def describe(self, n_inputs: int | None = None) -> dict[str, str]:
        """The model in words, one entry per part (for ``spec check`` and the report)."""
        config = self.optimizer if isinstance(self.optimizer, dict) else {"name": self.optimizer}
        rate = config.get("learning_rate")
        schedule = "-" if rate is None else _describe_rate(rate)
        optimizer = str(config.get("name", "?"))
        if config.get("momentum"):
            optimizer += f", momentum {config['momentum']:g}"
        if config.get("weight_decay"):
            optimizer += f", L2 {config['weight_decay']:g}"
        columns = self.dataset.columns()
        clipped = [c.name for c in columns if c.spec.clip and c.role == "input"]
        n_inputs_spec = sum(c.role == "input" for c in columns)
        clipping = [f"{len(clipped)} of {n_inputs_spec} inputs"] if clipped else []
        clipping += [f"predicted {c.name}" for c in columns if c.spec.clip and c.role == "output"]
        trainer = (
            f"{self.trainer.k} folds"
            if isinstance(self.trainer, KFolds)
            else (f"split {self.trainer.ratio:g}")
        )
        stopping = self.early_stopping
        return {
            "network": _describe_layers(self.layers, n_inputs),
            "loss": self.loss,
            "optimizer": optimizer,
            "schedule": schedule,
            "clipping": (
                " and ".join(clipping) + " clipped to each fold's fitted range"
                if clipping
                else "none"
            ),
            "trainer": f"{trainer} x {self.epochs:,} epochs, batch {self.batch_size}",
            "early stopping": "none"
            if stopping is None
            else (
                f"patience {stopping.patience} on {stopping.validation_fraction:.0%} "
                "of each fold's training rows"
            ),
            "seed": f"{self.seed}, {self.dtype}",
            "metric": f"{self.selection_metric} (picks the best fold)",
        }

    def sentence(self, n_inputs: int | None = None) -> str:
        """The model in one sentence: network, optimizer, schedule, trainer."""
        d = self.describe(n_inputs)
        name, _, extras = d["optimizer"].partition(", ")
        parts = (
            [name]
            + ([] if d["schedule"] == "-" else [d["schedule"]])
            + ([extras] if extras else [])
        )
        return f"{d['network']}; {', '.join(parts)}; {d['loss']} loss; {d['trainer']}"

    def build_network(self, n_inputs: int, *, seeds: list[int] | None = None) -> Network:
        """A fresh engine network: one replica per seed (``[self.seed]`` by default)."""
        layers = [
            Dense(
                units,
                spec.activation,
                kernel_initializer=spec.kernel_initializer,
                bias_initializer=spec.bias_initializer,
                dropout=spec.dropout,
                optimizer=spec.optimizer,
            )
            for spec, units in zip(self.layers, self.layer_units(n_inputs), strict=True)
        ]
        seeds = [self.seed] if seeds is None else list(seeds)
        return Network(
            n_inputs,
            layers,
            loss=self.loss,
            optimizer=self.optimizer,
            replicas=len(seeds),
            dtype=self.dtype,
            seed=seeds,
        )


def _head_problems(model: Model) -> Iterator[tuple[str, str]]:
    """``(json_path, message)`` for every last layer / loss / target combination that cannot
    train, found from the spec alone (``check_targets`` checks what needs the data)."""
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        if layer.activation == "softmax" and layer.units == 1:
            yield (
                f"layers[{i}].activation",
                "softmax over 1 unit always outputs 1; use sigmoid for one output",
            )
    head = model.layers[last]
    target = model.dataset.class_target
    outputs = model.dataset.out_features_names()
    if target is not None:
        labels = model.dataset.features[target].classes.labels  # type: ignore[union-attr]
        binary = None if labels is None else len(labels) == 2
        if binary is None and head.activation in ("sigmoid", "softmax"):
            binary = head.activation == "sigmoid"
        if labels is not None and isinstance(head.units, int):
            expected = n_encoded_outputs(len(labels))
            if head.units != expected:
                yield (
                    f"layers[{last}].units",
                    f"the class target `{target}` has {len(labels)} classes, encoded as "
                    f"{expected} output(s); the last layer has {head.units} unit(s)",
                )
        if binary is not None:
            activation, loss = _CLASS_HEAD[binary]
            kind = "2 classes (one 0/1 output)" if binary else "one-hot classes"
            if head.activation != activation:
                yield (
                    f"layers[{last}].activation",
                    f"the class target `{target}` has {kind}: the last layer needs "
                    f"{activation}. Received: {head.activation!r}",
                )
            if model.loss != loss:
                yield (
                    "loss",
                    f"the class target `{target}` has {kind}: the loss must be {loss!r}. "
                    f"Received: {model.loss!r}",
                )
        if model.metric in ("r2", "mae"):
            yield "metric", f"{model.metric!r} is a regression metric; the target has classes"
        return
    if not outputs:  # arrays without a dataset (the scikit-learn estimators): nothing to match
        return
    if isinstance(head.units, int) and head.units != len(outputs):
        yield (
            f"layers[{last}].units",
            f"the spec has {len(outputs)} output(s) {outputs}; the last layer has "
            f"{head.units} unit(s)",
        )
    if model.loss == "categorical_crossentropy":
        yield (
            "loss",
            "categorical_crossentropy needs one-hot targets: mark the output as a class target "
            '(`"classes": {}`), which also sets the outputs',
        )
    if model.loss == "binary_crossentropy":
        for name in outputs:
            if model.dataset.features[name].scale == "zscore":
                yield (
                    "loss",
                    f"binary_crossentropy needs targets in [0, 1], but `{name}` is z-scored; "
                    'use min-max scaling or mark it as a class target (`"classes": {}`)',
                )
    if model.metric in _CLASSIFICATION_METRICS:
        yield "metric", f"{model.metric!r} needs a class target (`classes` on the output)"


def _describe_layers(layers: list[LayerSpec], n_inputs: int | None) -> str:
    """``8 x 35 relu -> 1 linear``: runs of equal layers counted."""
    parts: list[tuple[int, str]] = []
    for layer in layers:
        units = layer.units if n_inputs is None else layer.resolved_units(n_inputs)
        label = f"{units} {layer.activation}" + (
            f" (dropout {layer.dropout:g})" if layer.dropout else ""
        )
        if parts and parts[-1][1] == label:
            parts[-1] = (parts[-1][0] + 1, label)
        else:
            parts.append((1, label))
    return " -> ".join(label if n == 1 else f"{n} x {label}" for n, label in parts)


def _describe_rate(rate: Any) -> str:
    """``lr 0.001 with inverse time decay (rate 0.02 per 148 steps)``."""
    if isinstance(rate, int | float):
        return f"lr {rate:g}"
    name = rate.get("name", "?")
    if name == "constant":
        return f"lr {rate.get('learning_rate', rate.get('value', '?'))}"
    if name == "inverse_time_decay":
        return (
            f"lr {rate['initial_learning_rate']:g} with inverse time decay "
            f"(rate {rate['decay_rate']:g} per {rate['decay_steps']:g} steps"
            f"{', staircase' if rate.get('staircase') else ''})"
        )
    if name == "piecewise_constant":
        return f"lr {' / '.join(f'{v:g}' for v in rate['values'])} (piecewise constant)"
    return f"lr {name}"
