"""The machinery both scikit-learn estimators share: hyperparameters, the spec they describe,
training through :func:`nnforge.training.loop.train_replicas`, prediction, saving and loading.

"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import ValidationError
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from nnforge._io import atomic_write_text
from nnforge._validation import format_validation_error
from nnforge.data import DatasetSpec
from nnforge.exceptions import DivergenceError
from nnforge.model import EarlyStopping, LayerSpec, Model
from nnforge.nn import Network
from nnforge.training.evaluation import EpochMetrics
from nnforge.training.loop import ReplicaData, train_replicas

_FORMAT = "nnforge.sklearn/1"
# The optimizer arguments each optimizer takes, besides learning_rate and weight_decay.
_OPTIMIZER_ARGS = {"adam": ("beta_1", "beta_2", "epsilon"), "momentum": ("momentum", "nesterov")}


class _NNForgeEstimator(BaseEstimator):
    """Shared hyperparameters, training, prediction and saving of both estimators.

    Subclasses set ``_loss_for``/``_output_activation`` through :meth:`_head` and encode their
    targets (:meth:`_encode_y`).
    """

    _kind: ClassVar[str]  # "regressor" or "classifier"

    def __init__(
        self,
        hidden_layer_sizes: tuple[int | str, ...] = (100,),
        activation: str = "relu",
        *,
        optimizer: str = "adam",
        learning_rate: Any = 0.001,
        momentum: float = 0.9,
        nesterov: bool = False,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float = 0.0,
        dropout: float | tuple[float, ...] = 0.0,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        batch_size: int = 128,
        epochs: int = 200,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 10,
        min_delta: float = 0.0,
        standardize: bool = True,
        dtype: str = "float32",
        random_state: Any = None,
        warm_start: bool = False,
        backend: str = "numpy",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_delta = min_delta
        self.standardize = standardize
        self.dtype = dtype
        self.random_state = random_state
        self.warm_start = warm_start
        self.backend = backend

    # -- the spec ------------------------------------------------------------------------------

    def to_spec(self, dataset: DatasetSpec | None = None) -> Model:
        """The :class:`~nnforge.model.Model` these hyperparameters describe.

        ``dataset`` is the dataset part (empty by default: an estimator gets its columns from
        the arrays it is fitted on). The output layer has ``n_outputs_`` units once fitted, one
        before (a classifier must be fitted: its output depends on the classes). A
        ``random_state`` that is not an int becomes the fitted ``seed_``, or 0.
        """
        if hasattr(self, "n_outputs_"):
            n_outputs = self.n_outputs_
        elif self._kind == "classifier":
            msg = (
                f"{type(self).__name__}.to_spec() needs a fitted estimator: the output layer "
                "depends on the classes. Call 'fit' first."
            )
            raise ValueError(msg)
        else:
            n_outputs = 1
        if isinstance(self.random_state, int | np.integer):
            seed = int(self.random_state)
        else:
            seed = getattr(self, "seed_", 0)
        return self._model(n_outputs, self.epochs, seed, dataset)

    @classmethod
    def from_spec(cls, model: Model, **params: Any) -> _NNForgeEstimator:
        """An estimator with the hyperparameters of a spec (its dataset and trainer ignored).

        ``params`` override or add constructor arguments (e.g. ``standardize=False`` when the
        spec's dataset part already scaled the inputs). A spec the estimator's arguments cannot
        express (different activations or initializers per hidden layer, a per-layer
        optimizer, a regression head other than linear + MSE) raises ``ValueError``.
        """
        hidden, head = model.layers[:-1], model.layers[-1]
        cls._check_head(head, model.loss)
        shared = {
            "hidden activations": [layer.activation for layer in hidden] or ["relu"],
            "kernel initializers": [layer.kernel_initializer for layer in model.layers],
            "bias initializers": [layer.bias_initializer for layer in model.layers],
        }
        problems = [
            f"{what} differ between layers ({values})"
            for what, values in shared.items()
            if len({json.dumps(v, sort_keys=True) for v in values}) > 1
        ]
        if any(layer.optimizer is not None for layer in model.layers):
            problems.append("a layer has its own optimizer")
        if problems:
            msg = f"{cls.__name__}.from_spec: the spec cannot be expressed: " + "; ".join(problems)
            raise ValueError(msg)
        rates = tuple(layer.dropout for layer in model.layers)
        opt = model.optimizer  # the engine optimizer's config
        args: dict[str, Any] = {
            "hidden_layer_sizes": tuple(layer.units for layer in hidden),
            "activation": shared["hidden activations"][0],
            "optimizer": opt["name"],
            "learning_rate": opt["learning_rate"],
            "weight_decay": opt.get("weight_decay", 0.0),
            **{key: opt[key] for key in _OPTIMIZER_ARGS.get(opt["name"], ()) if key in opt},
            "dropout": _compact_dropout(rates),
            "kernel_initializer": shared["kernel initializers"][0],
            "bias_initializer": shared["bias initializers"][0],
            "batch_size": model.batch_size,
            "epochs": model.epochs,
            "early_stopping": model.early_stopping is not None,
            "dtype": model.dtype,
            "random_state": model.seed,
            "backend": model.backend,
        }
        if model.early_stopping is not None:
            es = model.early_stopping
            args.update(
                patience=es.patience,
                min_delta=es.min_delta,
                validation_fraction=es.validation_fraction,
            )
        return cls(**{**args, **params})

    def _model(
        self, n_outputs: int, epochs: int, seed: int, dataset: DatasetSpec | None = None
    ) -> Model:
        """Build the spec, naming the estimator argument behind any invalid value."""
        name = type(self).__name__
        activation, loss = self._head(n_outputs)
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, int | str):
            sizes = (sizes,)
        rates = self.dropout
        if isinstance(rates, int | float):
            rates = (0.0,) + (float(rates),) * len(sizes)
        if len(rates) != len(sizes) + 1:
            msg = (
                f"`dropout` of {name} needs one rate per layer input ({len(sizes) + 1}: the "
                f"features, then each hidden layer's output). Received: dropout={self.dropout!r}"
            )
            raise ValueError(msg)
        common = {
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }
        layers = _validated(
            name,
            "hidden_layer_sizes/activation/dropout/initializers",
            lambda: (
                [
                    LayerSpec(units=u, activation=self.activation, dropout=d, **common)
                    for u, d in zip(sizes, rates[:-1], strict=True)
                ]
                + [LayerSpec(units=n_outputs, activation=activation, dropout=rates[-1], **common)]
            ),
        )
        optimizer = self._optimizer_config()
        early = None
        if self.early_stopping:
            early = _validated(
                name,
                "patience/min_delta/validation_fraction",
                lambda: EarlyStopping(
                    patience=self.patience,
                    min_delta=self.min_delta,
                    validation_fraction=self.validation_fraction,
                ),
            )
        return _validated(
            name,
            "optimizer/learning_rate/batch_size/epochs/dtype/backend",
            lambda: Model(
                dataset=DatasetSpec() if dataset is None else dataset,
                layers=layers,
                loss=loss,
                optimizer=optimizer,
                batch_size=self.batch_size,
                epochs=epochs,
                early_stopping=early,
                seed=seed,
                dtype=self.dtype,
                backend=self.backend,
            ),
        )

    def _optimizer_config(self) -> dict[str, Any]:
        """The engine optimizer's config (validated by the spec through the registry)."""
        config = {
            "name": self.optimizer,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
        }
        for key in _OPTIMIZER_ARGS.get(self.optimizer, ()):
            config[key] = getattr(self, key)
        return config

    # -- training ------------------------------------------------------------------------------

    def _fit(
        self, X: Any, y: Any, sample_weight: Any, *, incremental: bool, classes: Any = None
    ) -> Any:
        fresh = not hasattr(self, "network_") or not (self.warm_start or incremental)
        if fresh:  # a fit that fails from here on leaves the estimator unfitted, not half-old
            self.__dict__.pop("network_", None)
        X, y = validate_data(
            self,
            X,
            y,
            reset=fresh,
            dtype=[np.float64, np.float32],
            multi_output=self._kind == "regressor",
            y_numeric=self._kind == "regressor",
        )
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        Y = self._encode_y(y, fresh, classes)
        if fresh:
            self._reset(X, Y, sw)
        elif Y.shape[1] != self.n_outputs_:
            msg = (
                f"y has {Y.shape[1]} outputs, but {type(self).__name__} was fitted with "
                f"{self.n_outputs_}; set warm_start=False to refit from scratch"
            )
            raise ValueError(msg)
        epochs = 1 if incremental else self.epochs
        model = self._model(self.n_outputs_, epochs, self.seed_)
        if fresh:
            self.network_ = model.build_network(X.shape[1], seeds=[self._seed(0)])
        data, valid = self._replica_data(
            X, Y, sw, model, early=self.early_stopping and not incremental
        )
        history: list[EpochMetrics] = []
        scores: list[float] = []

        def report(metrics: EpochMetrics) -> None:
            history.append(metrics)
            if data.monitor_rows is not None:  # score the monitored rows as scikit-learn does
                out = self.network_.predict(data.x[data.monitor_rows[0]])[0].astype(np.float64)
                scores.append(self._validation_score(out, Y[valid]))

        outcome = train_replicas(model, data, report=report, network=self.network_)
        result = outcome.results[0]
        if result.stopped == "diverged":
            msg = (
                f"{type(self).__name__}: the training loss became non-finite at epoch "
                f"{self.n_iter_ + result.epochs_run}; lower `learning_rate` or scale the inputs"
            )
            raise DivergenceError(msg)
        self.loss_curve_ += [m.train_loss for m in history]
        self.n_iter_ += len(history)
        if scores and self.validation_scores_ is not None:
            self.validation_scores_ += scores
            if result.best_epoch:  # epochs are counted from 1 (0: no best epoch yet)
                self.best_validation_score_ = scores[result.best_epoch - 1]
        return self

    def _reset(self, X: np.ndarray, Y: np.ndarray, sw: np.ndarray) -> None:
        """Forget the previous fit: scalers, seed, curves."""
        self.n_outputs_ = Y.shape[1]
        rs = self.random_state
        if isinstance(rs, int | np.integer) and not isinstance(rs, bool) and rs >= 0:
            self.seed_ = int(rs)
        else:  # None or a RandomState: draw the seed, as scikit-learn estimators do
            self.seed_ = int(check_random_state(rs).randint(np.iinfo(np.int32).max))
        self.x_mean_, self.x_scale_ = _moments(X, sw, self.standardize)
        scale_y = self.standardize and self._kind == "regressor"
        self.y_mean_, self.y_scale_ = _moments(Y, sw, scale_y)
        self.n_iter_ = 0
        self.loss_curve_: list[float] = []
        self.validation_scores_: list[float] | None = [] if self.early_stopping else None
        self.best_validation_score_: float | None = None

    def _seed(self, *key: int) -> int:
        """An int seed for one purpose (``key``), derived from ``seed_``."""
        seq = np.random.SeedSequence(self.seed_, spawn_key=key)
        return int(seq.generate_state(1)[0])

    def _replica_data(
        self, X: np.ndarray, Y: np.ndarray, sw: np.ndarray, model: Model, *, early: bool
    ) -> tuple[ReplicaData, np.ndarray]:
        """One replica's arrays and the rows split off for early stopping (with ``early``).

        Nothing is validated by the loop (no held-out rows): the estimator is scored by
        scikit-learn's own tools; early stopping monitors the split-off rows.
        """
        dtype = np.dtype(model.dtype)
        x = ((X - self.x_mean_) / self.x_scale_).astype(dtype)
        y = ((Y - self.y_mean_) / self.y_scale_).astype(dtype)
        n = len(x)
        # Each call shuffles and splits with its own seed (partial_fit, warm_start continue).
        rng = np.random.default_rng(self._seed(2, self.n_iter_))
        train, valid = np.arange(n), np.arange(0)
        if early:
            n_valid = max(1, round(n * self.validation_fraction))
            if n_valid >= n:
                msg = (
                    f"early_stopping needs at least 2 samples to split off a validation set "
                    f"(validation_fraction={self.validation_fraction}). Received: {n} sample(s)"
                )
                raise ValueError(msg)
            order = rng.permutation(n)
            valid, train = np.sort(order[:n_valid]), np.sort(order[n_valid:])
        data = ReplicaData(
            folds=[0],
            net_seeds=[self._seed(0)],
            shuffle_seeds=[self._seed(1, self.n_iter_)],
            x=x,
            y=y,
            train_rows=[train],
            valid_rows=[np.arange(0)],
            y_valid_true=[np.zeros((0, y.shape[1]))],
            pipelines=None,
            monitor_rows=[valid] if early else None,
            w=sw.astype(dtype),
        )
        return data, valid

    # -- prediction ----------------------------------------------------------------------------

    def _forward(self, X: Any) -> np.ndarray:
        """Network outputs ``(n, n_outputs_)`` in float64 for validated, scaled ``X``."""
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        x = (X - self.x_mean_) / self.x_scale_
        return self.network_.predict(x)[0].astype(np.float64)

    # -- saving --------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``path.safetensors`` (the network's parameters) and ``path.json`` (the rest).

        Nothing is pickled: :meth:`load` rebuilds the estimator from these two files. The
        optimizer state is not saved, so training after loading starts it afresh. Returns the
        path without suffix.
        """
        check_is_fitted(self, "network_")
        base = self.network_.save(path)
        fitted = {
            key: _to_json(getattr(self, key)) for key in self._fitted_keys() if hasattr(self, key)
        }
        doc = {
            "format": _FORMAT,
            "estimator": type(self).__name__,
            "params": {k: _to_json(v) for k, v in self.get_params().items()},
            "fitted": fitted,
            "network": self.network_.get_config(),
        }
        atomic_write_text(base.with_name(base.name + ".json"), json.dumps(doc, indent=2) + "\n")
        return base

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> _NNForgeEstimator:
        """Read an estimator written by :meth:`save` (JSON and safetensors only)."""
        base = Path(path)
        if base.suffix in (".json", ".safetensors"):
            base = base.with_suffix("")
        json_path = base.with_name(base.name + ".json")
        doc = json.loads(json_path.read_text(encoding="utf-8"))
        if doc.get("format") != _FORMAT or doc.get("estimator") != cls.__name__:
            msg = (
                f"{json_path} is not a saved {cls.__name__} (format {doc.get('format')!r}, "
                f"estimator {doc.get('estimator')!r})"
            )
            raise ValueError(msg)
        params = {k: _from_json(v) for k, v in doc["params"].items()}
        est = cls(**params)
        for key, value in doc["fitted"].items():
            setattr(est, key, _from_json(value))
        est.network_ = Network.from_config(doc["network"])
        est.network_.load_weights(base)
        return est

    def _fitted_keys(self) -> list[str]:
        return [
            "n_features_in_",
            "feature_names_in_",
            "n_outputs_",
            "seed_",
            "x_mean_",
            "x_scale_",
            "y_mean_",
            "y_scale_",
            "n_iter_",
            "loss_curve_",
            "validation_scores_",
            "best_validation_score_",
        ]

    # -- subclass contract ---------------------------------------------------------------------

    def _head(self, n_outputs: int) -> tuple[str, str]:
        """The output activation and the loss for ``n_outputs`` outputs."""
        raise NotImplementedError

    @classmethod
    def _check_head(cls, head: LayerSpec, loss: str) -> None:
        """Reject a spec whose output layer and loss this estimator cannot use."""

    def _encode_y(self, y: np.ndarray, fresh: bool, classes: Any) -> np.ndarray:
        """The training targets ``(n, n_outputs)`` in float64 (``classes``: partial_fit's)."""
        raise NotImplementedError

    def _validation_score(self, out: np.ndarray, Y: np.ndarray) -> float:
        """The score of network outputs ``out`` against encoded targets ``Y`` (as ``score``)."""
        raise NotImplementedError


# -- helpers -----------------------------------------------------------------------------------


def _validated(estimator: str, params: str, build: Any) -> Any:
    """Run a spec constructor; a validation error names the estimator's arguments."""
    try:
        return build()
    except ValidationError as exc:
        what = f"`{params}` of {estimator}"
        raise ValueError(format_validation_error(exc, what, None)) from None
    except ValueError as exc:
        raise ValueError(f"invalid `{params}` of {estimator}: {exc}") from None


def _moments(values: np.ndarray, weights: np.ndarray, scale: bool) -> tuple[np.ndarray, ...]:
    """Weighted column means and standard deviations (0 and 1 when not scaling)."""
    width = values.shape[1]
    if not scale:
        return np.zeros(width), np.ones(width)
    w = weights if weights.sum() > 0 else np.ones_like(weights)
    values = values.astype(np.float64, copy=False)
    mean = np.average(values, axis=0, weights=w)
    std = np.sqrt(np.average((values - mean) ** 2, axis=0, weights=w))
    # A constant column is only centred; a tiny std (relative to the values) counts as 0.
    tiny = std <= 1e-12 * np.maximum(np.abs(mean), 1.0)
    return mean, np.where(tiny, 1.0, std)


def _compact_dropout(rates: tuple[float, ...]) -> float | tuple[float, ...]:
    """The float form when the features are not dropped and every hidden output shares one rate."""
    if rates[0] == 0.0 and len(set(rates[1:])) <= 1:
        return rates[1] if len(rates) > 1 else 0.0
    return rates


def _to_json(value: Any) -> Any:
    """A JSON-able form that :func:`_from_json` restores (arrays keep their dtype)."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, tuple):
        return {"__tuple__": [_to_json(v) for v in value]}
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "get_config"):  # an engine schedule
        return value.get_config()
    if isinstance(value, np.random.RandomState):
        return None
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and "__ndarray__" in value:
        return np.array(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
    if isinstance(value, dict) and "__tuple__" in value:
        return tuple(_from_json(v) for v in value["__tuple__"])
    return value
