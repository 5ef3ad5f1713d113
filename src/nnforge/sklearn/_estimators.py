"""``NNForgeRegressor`` and ``NNForgeClassifier``: the targets, head and score of each; the rest
is :class:`~nnforge.sklearn._base._NNForgeEstimator`."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from nnforge.metrics import r2_score
from nnforge.model import LayerSpec
from nnforge.sklearn._base import _NNForgeEstimator

__all__ = ["NNForgeClassifier", "NNForgeRegressor"]


class NNForgeRegressor(RegressorMixin, _NNForgeEstimator):
    """A feed-forward network regressor trained by the nnforge engine (MSE loss).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int or str, default=(100,)
        Units of each hidden layer; ``"inputs"`` or ``"inputs+N"`` resolve against the number
        of features at fit time (as in a spec).
    activation : {"relu", "tanh", "sigmoid", "linear"}, default="relu"
        Activation of every hidden layer.
    optimizer : {"adam", "momentum", "sgd"}, default="adam"
    learning_rate : float, Schedule or dict, default=0.001
        A constant rate, or a schedule counted in optimizer steps (batches): an engine schedule
        (``nnforge.nn.InverseTimeDecay(...)``, ``PiecewiseConstant(...)``) or its config dict
        (``{"name": "inverse_time_decay", ...}``, as in a spec).
    momentum, nesterov : float, bool
        Momentum optimizer only (Keras semantics).
    beta_1, beta_2, epsilon : float
        Adam only (Keras defaults).
    weight_decay : float, default=0.0
        L2 penalty added to the gradient of every kernel (never biases).
    dropout : float or tuple of float, default=0.0
        A float drops each hidden layer's outputs at that rate during training; a tuple gives
        one rate per layer input (the features first, then each hidden layer's outputs).
    kernel_initializer, bias_initializer : str
        Names from ``nnforge.nn.initializers``.
    batch_size : int, default=128
    epochs : int, default=200
        Passes over the data per ``fit`` (``partial_fit`` makes one).
    early_stopping : bool, default=False
        Split ``validation_fraction`` of the rows off, stop once their loss has not improved by
        ``min_delta`` for ``patience`` epochs, and keep the best epoch's parameters (that loss
        and ``validation_scores_`` ignore ``sample_weight``). Not used by ``partial_fit``.
    validation_fraction, patience, min_delta
        See ``early_stopping``.
    standardize : bool, default=True
        Z-score inputs and targets internally (see the module docstring); turn off when a
        pipeline already scales them.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the engine (predictions are returned as float64).
    random_state : int, RandomState or None, default=None
        Seeds initial weights, batch order, dropout and the validation split.
    warm_start : bool, default=False
        ``fit`` continues from the previous solution (and optimizer state) instead of starting
        afresh; the scalers of the first fit are kept.
    backend : {"numpy", "jax"}, default="numpy"
        The engine that runs the epochs (``"jax"`` needs ``nnforge[jax]`` and compiles one
        epoch per call). Both continue the optimizer state (``warm_start``, ``partial_fit``),
        also when the backend changes between calls.

    Attributes
    ----------
    network_ : nnforge.nn.Network
        The trained engine network (one replica).
    n_iter_ : int
        Epochs trained (summed over warm starts and ``partial_fit`` calls).
    loss_curve_ : list of float
        Training loss per epoch (standardised units when ``standardize``).
    validation_scores_ : list of float or None
        R² on the validation split per epoch with early stopping, else None.
    best_validation_score_ : float or None
        The score of the epoch whose parameters were kept.
    n_features_in_, feature_names_in_, n_outputs_ : as in scikit-learn
    seed_ : int
        The seed actually used (drawn when ``random_state`` is not an int).
    x_mean_, x_scale_, y_mean_, y_scale_ : ndarray
        The standardisation (zeros and ones when ``standardize=False``).
    """

    _kind = "regressor"

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> NNForgeRegressor:
        """Train for ``epochs`` epochs (from scratch unless ``warm_start``); returns self."""
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> NNForgeRegressor:
        """One epoch over ``X``; the first call sets up the network and the scalers."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``(n_samples,)``, or ``(n_samples, n_outputs)`` for 2-D targets."""
        out = self._forward(X) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self._y_1d else out

    def _head(self, n_outputs: int) -> tuple[str, str]:
        return "linear", "mse"

    @classmethod
    def _check_head(cls, head: LayerSpec, loss: str) -> None:
        if head.activation != "linear" or loss != "mse":
            msg = (
                f"{cls.__name__}.from_spec needs a linear output layer and the mse loss. "
                f"Received: activation={head.activation!r}, loss={loss!r}"
            )
            raise ValueError(msg)

    def _encode_y(self, y: np.ndarray, fresh: bool, classes: Any) -> np.ndarray:
        if fresh:
            self._y_1d = y.ndim == 1
        return np.asarray(y, dtype=np.float64).reshape(len(y), -1)

    def _validation_score(self, out: np.ndarray, Y: np.ndarray) -> float:
        return float(r2_score(Y, out * self.y_scale_ + self.y_mean_))

    def _fitted_keys(self) -> list[str]:
        return [*super()._fitted_keys(), "_y_1d"]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class NNForgeClassifier(ClassifierMixin, _NNForgeEstimator):
    """A feed-forward network classifier trained by the nnforge engine.

    Two classes train one sigmoid output with binary cross-entropy, more classes a softmax
    output with categorical cross-entropy (both fused in the engine for stable gradients).
    Labels may be any sortable values (ints, strings...); ``classes_`` holds them in order.
    The parameters are those of :class:`NNForgeRegressor`, except that targets are never
    standardised and ``validation_scores_`` holds accuracies.
    """

    _kind = "classifier"

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> NNForgeClassifier:
        """Train for ``epochs`` epochs (from scratch unless ``warm_start``); returns self."""
        return self._fit(X, y, sample_weight, incremental=False)

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> NNForgeClassifier:
        """One epoch over ``X``; the first call needs ``classes`` (every label there will be)."""
        if not hasattr(self, "network_") and classes is None:
            msg = "the first call to partial_fit needs `classes` (all labels to expect)"
            raise ValueError(msg)
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, as a label of ``classes_``."""
        proba = self.predict_proba(X)  # checks that it is fitted before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)`` in the order of ``classes_``."""
        out = self._forward(X)
        if out.shape[1] == 1:
            out = np.hstack([1.0 - out, out])
        return out / out.sum(axis=1, keepdims=True)

    def _head(self, n_outputs: int) -> tuple[str, str]:
        if n_outputs == 1:
            return "sigmoid", "binary_crossentropy"
        return "softmax", "categorical_crossentropy"

    def _encode_y(self, y: np.ndarray, fresh: bool, classes: Any) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if fresh:
            self.classes_ = np.unique(y if classes is None else np.asarray(classes))
            if len(self.classes_) < 2:
                msg = (
                    f"{type(self).__name__} needs samples of at least 2 classes in the data. "
                    f"Received: one class, {self.classes_[0]!r}"
                )
                raise ValueError(msg)
        index = np.searchsorted(self.classes_, y).clip(0, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if unknown.any():
            msg = (
                f"y contains labels not in classes_ {self.classes_.tolist()}: "
                f"{np.unique(y[unknown]).tolist()}"
            )
            raise ValueError(msg)
        if len(self.classes_) == 2:
            return index[:, None].astype(np.float64)
        return np.eye(len(self.classes_))[index]

    def _validation_score(self, out: np.ndarray, Y: np.ndarray) -> float:
        """Accuracy: the most probable class against the label (one 0/1 column for two)."""
        if out.shape[1] == 1:
            return float(np.mean((out[:, 0] >= 0.5) == (Y[:, 0] == 1)))
        return float(np.mean(out.argmax(axis=1) == Y.argmax(axis=1)))

    def _fitted_keys(self) -> list[str]:
        return [*super()._fitted_keys(), "classes_"]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags
