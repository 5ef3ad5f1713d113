"""The individual transforms, as Polars expressions, each next to its inverse.

Stateless steps (used by ``derive``) are plain functions returning expressions. Fitted steps are
small frozen dataclasses holding what was learned at fit time; each has ``expr`` (forward) and
``inverse_expr`` (on a frame column), plus ``to_dict``/``from_dict`` for the pipeline JSON.
Scalers also expose ``scale`` and ``offset`` (``x = z * scale + offset``), which the pipeline
uses to revert NumPy predictions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

__all__ = [
    "Cyclic",
    "Fences",
    "MinMax",
    "ZScore",
    "epoch_seconds",
    "inverse_log10",
    "inverse_log10_array",
    "log10",
    "month",
    "scaler_from_dict",
    "square",
]


# ---- stateless ------------------------------------------------------------------------------


def log10(expr: pl.Expr) -> pl.Expr:
    """Base-10 logarithm; ``derive`` checks beforehand that every value is > 0."""
    return expr.log10()


def inverse_log10(expr: pl.Expr) -> pl.Expr:
    """``10 ** x``, the exact inverse of :func:`log10` (to float rounding)."""
    return pl.lit(10.0, dtype=pl.Float64).pow(expr)


def inverse_log10_array(values: np.ndarray) -> np.ndarray:
    """NumPy ``10 ** x``."""
    return np.power(10.0, values)


def square(expr: pl.Expr) -> pl.Expr:
    """The added squared feature. Not inverted: reverting keeps the source column instead."""
    return expr * expr


def month(parsed: pl.Expr) -> pl.Expr:
    """Month number 1..12 of a parsed datetime, as float."""
    return parsed.dt.month().cast(pl.Float64)


def epoch_seconds(parsed: pl.Expr) -> pl.Expr:
    """Unix timestamp in seconds (naive datetimes are read as UTC), as float."""
    return parsed.dt.epoch("s").cast(pl.Float64)


# ---- fitted ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fences:
    """Tukey fences ``[q1 - k·IQR, q3 + k·IQR]`` learned on the fit rows (``k = 1.5``)."""

    q1: float
    q3: float
    k: float = 1.5

    @property
    def low(self) -> float:
        return self.q1 - self.k * (self.q3 - self.q1)

    @property
    def high(self) -> float:
        return self.q3 + self.k * (self.q3 - self.q1)

    def inside(self, expr: pl.Expr) -> pl.Expr:
        """True where the value lies within the fences (bounds included)."""
        return expr.is_between(self.low, self.high, closed="both")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _handle_zero_scale(scale: float) -> float:
    """A zero range scales by 1 (scikit-learn's ``_handle_zeros_in_scale``): a column constant on
    the fit rows maps to 0 there instead of dividing by zero."""
    return scale if scale != 0.0 else 1.0


@dataclass(frozen=True)
class MinMax:
    """``(x - lo) / (hi - lo)``, mapping the fit rows onto [0, 1] (onto 0 when ``hi == lo``)."""

    lo: float
    hi: float
    kind: str = "minmax"

    @property
    def scale(self) -> float:
        return _handle_zero_scale(self.hi - self.lo)

    @property
    def offset(self) -> float:
        return self.lo

    def expr(self, x: pl.Expr) -> pl.Expr:
        return (x - self.lo) / self.scale

    def inverse_expr(self, x: pl.Expr) -> pl.Expr:
        return x * self.scale + self.lo

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ZScore:
    """``(x - mean) / std`` with the population standard deviation of the fit rows (std 0:
    scaled by 1, so a constant column maps to 0)."""

    mean: float
    std: float
    kind: str = "zscore"

    @property
    def scale(self) -> float:
        return _handle_zero_scale(self.std)

    @property
    def offset(self) -> float:
        return self.mean

    def expr(self, x: pl.Expr) -> pl.Expr:
        return (x - self.mean) / self.scale

    def inverse_expr(self, x: pl.Expr) -> pl.Expr:
        return x * self.scale + self.mean

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scaler_from_dict(data: dict[str, Any]) -> MinMax | ZScore:
    """Rebuild a scaler from its ``to_dict``, rejecting values no fit can produce.

    A hand-edited file with a reversed range, a negative or non-finite scale would otherwise
    give infinite or silently wrong predictions.
    """
    kind = data.get("kind")
    if kind == "minmax":
        lo, hi = _finite(data, "lo"), _finite(data, "hi")
        if not hi >= lo or not math.isfinite(hi - lo):
            msg = f"a min-max scaler needs lo <= hi (finite range). Received: lo={lo}, hi={hi}"
            raise ValueError(msg)
        return MinMax(lo=lo, hi=hi)
    if kind == "zscore":
        mean, std = _finite(data, "mean"), _finite(data, "std")
        if std < 0:
            msg = f"a z-score scaler needs std >= 0. Received: std={std}"
            raise ValueError(msg)
        return ZScore(mean=mean, std=std)
    msg = f"unknown scaler kind. Received: kind={kind!r}"
    raise ValueError(msg)


def _finite(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        msg = f"`{key}` must be a finite number. Received: {key}={value!r}"
        raise ValueError(msg)
    return float(value)


@dataclass(frozen=True)
class Cyclic:
    """``sin``/``cos`` of ``2π (x - start) / period``; inverted with ``atan2``.

    The inverse returns values in ``[start, start + period)``, so it is exact for inputs in that
    range (months 1..12 with the defaults).
    """

    period: float = 12.0
    start: float = 1.0

    def angle(self, x: pl.Expr) -> pl.Expr:
        return (x - self.start) * (2.0 * math.pi / self.period)

    def sin(self, x: pl.Expr) -> pl.Expr:
        return self.angle(x).sin()

    def cos(self, x: pl.Expr) -> pl.Expr:
        return self.angle(x).cos()

    def inverse_expr(self, sin: pl.Expr, cos: pl.Expr) -> pl.Expr:
        turn = pl.arctan2(sin, cos) / (2.0 * math.pi)
        # atan2 is in (-π, π]; shift negative angles by one turn.
        turn = pl.when(turn < 0).then(turn + 1.0).otherwise(turn)
        return turn * self.period + self.start
