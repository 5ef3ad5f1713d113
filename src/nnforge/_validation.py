"""Small input checkers shared by the whole package (one gatekeeper, as in scikit-learn).

Messages follow one format: the parameter in backticks, what was expected, then
``Received: name=value``.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Literal, overload

import numpy as np
from pydantic import ValidationError

from nnforge.exceptions import NotFittedError

__all__ = [
    "check_array",
    "check_consistent_length",
    "check_dtype",
    "check_is_fitted",
    "check_scalar",
    "format_validation_error",
]

_DTYPES = {"float32": np.float32, "float64": np.float64}


def check_dtype(dtype: Any) -> np.dtype:
    """Resolve ``"float32"``/``"float64"`` (or the NumPy types) to a ``np.dtype``."""
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in _DTYPES:
        msg = f"`dtype` must be one of {sorted(_DTYPES)}. Received: dtype={dtype!r}"
        raise ValueError(msg)
    return np.dtype(_DTYPES[key])


@overload
def check_scalar(
    x: Any,
    name: str,
    *,
    integer: Literal[False] = False,
    min_val: float | None = None,
    max_val: float | None = None,
    include_min: bool = True,
) -> float: ...


@overload
def check_scalar(
    x: Any,
    name: str,
    *,
    integer: Literal[True],
    min_val: float | None = None,
    max_val: float | None = None,
    include_min: bool = True,
) -> int: ...


def check_scalar(
    x: Any,
    name: str,
    *,
    integer: bool = False,
    min_val: float | None = None,
    max_val: float | None = None,
    include_min: bool = True,
) -> float | int:
    """Check that ``x`` is a finite real number (an integer with ``integer``) within bounds.

    Returns it as ``float``, or as ``int`` with ``integer=True``. Booleans are rejected.
    """
    kind, expected = (Integral, "an integer") if integer else (Real, "a real number")
    if isinstance(x, bool) or not isinstance(x, kind):
        msg = f"`{name}` must be {expected}. Received: {name}={x!r}"
        raise TypeError(msg)
    value = int(x) if integer else float(x)
    if integer and min_val == 1 and max_val is None and value < 1:
        msg = f"`{name}` must be a positive integer. Received: {name}={x!r}"
        raise ValueError(msg)
    if not np.isfinite(value):
        msg = f"`{name}` must be finite. Received: {name}={x!r}"
        raise ValueError(msg)
    too_low = min_val is not None and (value < min_val if include_min else value <= min_val)
    too_high = max_val is not None and value > max_val
    if too_low or too_high:
        low = "-inf" if min_val is None else f"{min_val}"
        high = "inf" if max_val is None else f"{max_val}"
        bracket = "[" if include_min else "("
        msg = f"`{name}` must be in {bracket}{low}, {high}]. Received: {name}={x!r}"
        raise ValueError(msg)
    return value


def check_array(x: Any, name: str, *, ndim: int | None = None, dtype: Any = None) -> np.ndarray:
    """Return ``x`` as a finite floating array with ``ndim`` dimensions (copy only if needed)."""
    arr = np.asarray(x, dtype=None if dtype is None else check_dtype(dtype))
    if ndim is not None and arr.ndim != ndim:
        msg = (
            f"`{name}` must be a {ndim}-D array, got a {arr.ndim}-D array of shape {arr.shape}. "
            f"Reshape your data, e.g. with x.reshape(-1, 1) for a single feature."
        )
        raise ValueError(msg)
    if arr.dtype.kind not in "fiub":
        msg = f"`{name}` must be numeric. Received: {name}.dtype={arr.dtype}"
        raise TypeError(msg)
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0].tolist()
        msg = (
            f"`{name}` contains NaN or infinity, first at index {bad}. Received: {arr[tuple(bad)]}"
        )
        raise ValueError(msg)
    return arr


def check_consistent_length(**arrays: Any) -> int:
    """Check that every array has the same first dimension and return it."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        msg = f"inputs have inconsistent numbers of rows. Received: {lengths}"
        raise ValueError(msg)
    return next(iter(lengths.values()), 0)


def check_is_fitted(obj: Any, attribute: str) -> None:
    """Raise :class:`NotFittedError` unless ``obj`` has the learned ``attribute``."""
    if getattr(obj, attribute, None) is None:
        msg = (
            f"This {type(obj).__name__} instance is not fitted yet. "
            "Call 'fit' with appropriate arguments before using it."
        )
        raise NotFittedError(msg)


def format_validation_error(exc: ValidationError, what: str, data: Any) -> str:
    """Render a pydantic error as ``invalid <what>:`` then one ``json.path: message`` per line.

    ``data`` is the validated input: pydantic puts the tag of a tagged union (``"adam"``,
    ``"equal"``...) in the error location, but it is a *value* of the input, not part of the
    JSON path a user edits, so location parts that name a value of the object reached are left
    out (no hand-kept list of tags).
    """
    lines = []
    for err in exc.errors():
        path = _json_path(err["loc"], data)
        message = err["msg"].removeprefix("Value error, ")
        if "input" in err and err["type"] not in ("value_error", "missing"):
            message += f". Received: {err['input']!r}"
        lines.append(f"{path}: {message}" if path else message)
    return f"invalid {what}:\n  " + "\n  ".join(lines)


def _json_path(loc: tuple[int | str, ...], data: Any) -> str:
    """``features.x.mapped[0].selector`` from a pydantic location, walking ``data`` alongside."""
    path, node = "", data
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            continue
        if isinstance(node, dict) and part not in node and part in node.values():
            continue  # a union tag: the value of the object's discriminator key
        path += f".{part}" if path else str(part)
        node = node.get(part) if isinstance(node, dict) else None
    return path
