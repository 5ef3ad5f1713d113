"""Class targets: the label list, its encoding for the network, and the way back to labels.

A class target (``FeatureSpec.classes``) holds labels, text or integers. In derived frames the
labels are text (``"0"``, ``"Adelie"``), so one comparison serves both kinds. The network sees:

* 2 classes: one 0/1 output named like the column, 1 for ``labels[1]`` (the positive class of a
  sigmoid + binary cross-entropy);
* k > 2 classes: k one-hot outputs ``<name>_<label>`` (softmax + categorical cross-entropy).

In "original units" a class target is a matrix of per-class probabilities, shape ``(n, k)``
(one-hot for true labels), whatever the encoding. Probabilities written to files are clipped to
``[PROBABILITY_EPS, 1 - PROBABILITY_EPS]``: a saturated float32 sigmoid returns exactly 0 or 1,
whose log loss would be infinite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from nnforge.data.io import row_label
from nnforge.data.spec import DatasetSpec
from nnforge.exceptions import DataError

__all__ = [
    "PROBABILITY_EPS",
    "class_indices",
    "class_probabilities",
    "encoded_class_names",
    "label_text",
    "learn_labels",
    "n_encoded_outputs",
    "predicted_labels",
    "probability_columns",
    "resolve_classes",
]

PROBABILITY_EPS = 1e-7
_SHOW = 10


def n_encoded_outputs(n_classes: int) -> int:
    """Network outputs for ``n_classes`` classes: 1 (sigmoid) for 2, else one per class."""
    return 1 if n_classes == 2 else n_classes


def encoded_class_names(name: str, labels: Sequence[str]) -> list[str]:
    """Names of the encoded output columns (the column itself for 2 classes)."""
    return [name] if len(labels) == 2 else [f"{name}_{label}" for label in labels]


def probability_columns(name: str, labels: Sequence[str]) -> list[str]:
    """Names of the per-class probability columns in predictions files."""
    return [f"{name}_proba_{label}" for label in labels]


def label_text(series: pl.Series) -> pl.Series:
    """Labels as text: integers (and integral floats, as a CSV may read them) without ``.0``."""
    dtype = series.dtype
    if dtype.is_float():
        values = series.drop_nulls()
        if values.len() and (values == values.round(0)).all():
            series = series.cast(pl.Int64)
    return series.cast(pl.String)


def learn_labels(series: pl.Series) -> list[str]:
    """The distinct labels of a text column, in numeric order when every one is an integer."""
    values = [str(v) for v in series.drop_nulls().unique().to_list()]
    try:
        return sorted(values, key=int)
    except ValueError:
        return sorted(values)


def resolve_classes(spec: DatasetSpec, frame: pl.DataFrame) -> DatasetSpec:
    """``spec`` with the class target's labels filled in from ``frame`` (the whole file).

    Learning the classes once from every row, before the folds are split, gives every fold the
    same outputs. Labels fixed in the spec are kept (their order too); a value of the file that is
    not one of them is an error naming its row.

    Raises
    ------
    DataError
        Fewer than 2 classes in the file, or a value outside the spec's labels.
    """
    name = spec.class_target
    if name is None or name not in frame.columns:
        return spec
    classes = spec.features[name].classes
    assert classes is not None
    seen = learn_labels(frame[name])
    fixed = classes.label_text()
    if fixed is None:
        if len(seen) < 2:
            msg = (
                f"class target `{name}` needs at least 2 classes; the data has {len(seen)}: {seen}"
            )
            raise DataError(msg)
        labels: list[Any] = [int(v) for v in seen] if _integers(frame, name, spec) else seen
        out = spec.model_copy(deep=True)
        out.features[name].classes.labels = labels  # type: ignore[union-attr]
        return out.validated()
    check_labels(frame, name, fixed, where="the data")
    return spec


def _integers(frame: pl.DataFrame, name: str, spec: DatasetSpec) -> bool:
    return spec.features[name].dtype in ("int", "float", "bool") and all(
        v.lstrip("-").isdigit() for v in learn_labels(frame[name])
    )


def check_labels(frame: pl.DataFrame, name: str, labels: Sequence[str], where: str) -> None:
    """Raise :class:`DataError` naming the first row whose label is not one of ``labels``."""
    bad = frame[name].is_not_null() & ~frame[name].is_in(list(labels))
    if bad.any():
        first = int(bad.arg_true()[0])
        values = frame[name].filter(bad).unique().sort().to_list()[:_SHOW]
        msg = (
            f"{where}: class target `{name}` has label(s) {values} that are not among the "
            f"spec's labels {list(labels)} (first at {row_label(first)}); add them to "
            f"`classes.labels` or remove `labels` to learn them from the file"
        )
        raise DataError(msg)


def class_probabilities(y: Any, n_classes: int, *, clip: bool = False) -> np.ndarray:
    """Encoded outputs ``(..., 1)`` or ``(..., k)`` -> per-class probabilities ``(..., k)``.

    ``clip`` keeps every probability in ``[PROBABILITY_EPS, 1 - PROBABILITY_EPS]`` (for a softmax
    the clipped rows are renormalised), as written to files.
    """
    arr = np.asarray(y, dtype=np.float64)
    expected = n_encoded_outputs(n_classes)
    if arr.ndim == 0 or arr.shape[-1] != expected:
        msg = (
            f"`y` must have {expected} column(s) for {n_classes} classes. "
            f"Received: y.shape={arr.shape}"
        )
        raise ValueError(msg)
    if n_classes == 2:
        p = arr[..., 0]
        if clip:
            p = np.clip(p, PROBABILITY_EPS, 1.0 - PROBABILITY_EPS)
        return np.stack([1.0 - p, p], axis=-1)
    if clip:
        arr = np.clip(arr, PROBABILITY_EPS, 1.0)
        arr = arr / arr.sum(axis=-1, keepdims=True)
    return arr.copy()


def class_indices(proba: np.ndarray) -> np.ndarray:
    """The most probable class of every row (the first on ties)."""
    return np.argmax(proba, axis=-1)


def predicted_labels(proba: np.ndarray, labels: Sequence[Any]) -> list[Any]:
    """The most probable label of every row of ``proba`` ``(n, k)``."""
    return [labels[i] for i in class_indices(proba)]
