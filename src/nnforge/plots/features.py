"""Predictions seen through the inputs: against one feature, and on a map."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from nnforge._format import currency_symbol
from nnforge.plots._base import (
    _DENSE,
    _DISCRETE,
    PRED_COLOR,
    TRUE_COLOR,
    _alpha,
    _binned_median,
    _figure,
    _float,
    _halo,
    _label,
    _legend,
    _money_ticks,
    _note,
    _plain_ticks,
    _require_columns,
    _use_log,
)

__all__ = ["geo_map", "predictions_by_feature"]


def _feature_axis(series: pl.Series) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Plot positions for a feature column, numeric keys for binning, and category labels."""
    dtype = series.dtype
    if dtype.is_temporal():
        x = series.to_numpy()
        return x, series.cast(pl.Int64).cast(pl.Float64).to_numpy(), None
    if dtype.is_numeric() or dtype == pl.Boolean:
        x = series.cast(pl.Float64).to_numpy()
        return x, x, None
    labels = sorted(str(v) for v in series.drop_nulls().unique().to_list())
    index = {v: i for i, v in enumerate(labels)}
    codes = np.array([index.get(str(v), np.nan) if v is not None else np.nan for v in series])
    return codes, codes, labels


def _to_time(values: np.ndarray, column: pl.Series) -> np.ndarray:
    """Integer keys of a date/datetime column (in its own unit) back to ``datetime64``."""
    unit = column.to_numpy().dtype
    return np.round(values).astype("int64").astype(unit)


def predictions_by_feature(
    frame: pl.DataFrame,
    feature: str,
    target: str,
    pred: str,
    *,
    log: bool = False,
    units: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """True and predicted values against one input feature, with binned medians of both.

    Parameters
    ----------
    frame : polars.DataFrame
        Rows in original units holding ``feature``, ``target`` and ``pred``.
    feature : str
        Column for the x axis: numeric, date/datetime or categorical.
    target, pred : str
        Columns of true and predicted values.
    log : bool, default=False
        Logarithmic value axis (non-positive values dropped).
    units : mapping of str to str, optional
        Column name to unit, used in axis labels (``{"price": "USD"}``).
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    _require_columns(frame, [feature, target, pred], "frame")
    column = frame.get_column(feature)
    temporal = column.dtype.is_temporal()
    _, key, categories = _feature_axis(column)
    t, p = _float(frame, target), _float(frame, pred)
    levels = np.unique(key[np.isfinite(key)])
    discrete = categories is not None or levels.size <= _DISCRETE
    x_true, x_pred = key, key
    if discrete and levels.size:
        # Few distinct values: truth just left of each value, predictions just right of it.
        spacing = float(np.min(np.diff(levels))) if levels.size > 1 else 1.0
        offset = np.random.default_rng(0).uniform(0.04, 0.4, size=key.size) * spacing
        x_true, x_pred = key - offset, key + offset
    fig = _figure(7.5, 4.6)
    ax = fig.add_subplot()
    alpha = _alpha(len(t))
    size = 10 if len(t) < _DENSE else 3
    xt, xp = (_to_time(v, column) for v in (x_true, x_pred)) if temporal else (x_true, x_pred)
    ax.scatter(xt, t, s=size, lw=0, color=TRUE_COLOR, alpha=alpha, rasterized=True)
    ax.scatter(xp, p, s=size, lw=0, color=PRED_COLOR, alpha=alpha, rasterized=True)
    handles: list[Any] = [
        Line2D([], [], ls="", marker="o", color=TRUE_COLOR, label="true"),
        Line2D([], [], ls="", marker="o", color=PRED_COLOR, label="predicted"),
    ]
    # Truth wide and light underneath, the prediction thin and dark on top with other markers:
    # where the two medians coincide, both stay visible.
    medians_style = (
        (t, "true", {"color": TRUE_COLOR, "lw": 4.5, "alpha": 0.55, "marker": "s", "ms": 6}),
        (p, "predicted", {"color": "navy", "lw": 1.6, "marker": "o", "ms": 3}),
    )
    for values, name, style in medians_style:
        centres, medians = _binned_median(key, values, levels if discrete else None)
        if centres.size:
            if temporal:
                centres = _to_time(centres, column)
            (line,) = ax.plot(
                centres,
                medians,
                path_effects=_halo() if name == "predicted" else None,
                label=f"{name}, median{'' if discrete else ' per bin'}",
                **style,
            )
            handles.append(line)
    if categories is not None:
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels(categories, rotation=45 if len(categories) > 6 else 0, ha="right")
    if log and _use_log(np.concatenate([t[np.isfinite(t)], p[np.isfinite(p)]]), True):
        ax.set_yscale("log")
    ax.set_xlabel(_label(feature, units))
    ax.set_ylabel(_label(target, units))
    ax.set_title(title or f"True and predicted {target} by {feature}")
    _legend(ax, handles=handles, fontsize="small")
    ax.grid(True, alpha=0.3)
    _money_ticks(ax, "y", _label(target, units))
    if categories is None and not temporal:
        _plain_ticks(ax, "x", compact=True)
    return fig


def geo_map(
    frame: pl.DataFrame,
    lat: str,
    lon: str,
    target: str,
    pred: str,
    *,
    log_color: bool = False,
    units: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Latitude/longitude scatter coloured by value: true and predicted side by side.

    Both panels share one colour scale, spanning the 1st to 99th percentile of all values so a
    few extreme rows do not wash out the rest; the highest values are drawn on top.

    Parameters
    ----------
    frame : polars.DataFrame
        Rows holding ``lat``, ``lon``, ``target`` and ``pred`` (degrees, original units).
    lat, lon : str
        Latitude and longitude columns.
    target, pred : str
        Columns of true and predicted values.
    log_color : bool, default=False
        Logarithmic colour scale (for skewed values such as prices).
    units : mapping of str to str, optional
        Column name to unit, used in the colour bar label.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    _require_columns(frame, [lat, lon, target, pred], "frame")
    y, x = _float(frame, lat), _float(frame, lon)
    t, p = _float(frame, target), _float(frame, pred)
    fig = _figure(11.0, 5.0)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    both = np.concatenate([t, p])
    both = both[np.isfinite(both)]
    if log_color:
        both = both[both > 0]
    fig.suptitle(title or f"{target} by location: true vs predicted")
    if both.size == 0:
        for ax in axes:
            _note(ax, "no finite values to plot")
        return fig
    vmin, vmax = np.percentile(both, [1, 99])
    if vmax <= vmin:
        vmin, vmax = float(both.min()), float(both.max()) + 1e-12
    norm = LogNorm(vmin, vmax) if log_color else Normalize(vmin, vmax)
    size = 12 if len(t) < _DENSE else 3
    mappable = None
    for ax, values, name in ((axes[0], t, "true"), (axes[1], p, "predicted")):
        ok = np.isfinite(values) & np.isfinite(x) & np.isfinite(y)
        if log_color:
            ok &= values > 0
        order = np.argsort(values[ok])
        mappable = ax.scatter(
            x[ok][order],
            y[ok][order],
            c=values[ok][order],
            norm=norm,
            cmap="viridis",
            s=size,
            lw=0,
            rasterized=True,
        )
        ax.set_title(f"{name} {target}")
        ax.set_xlabel(_label(lon, {lon: "degrees", **(units or {})}))
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel(_label(lat, {lat: "degrees", **(units or {})}))
    finite_lat = y[np.isfinite(y)]
    if finite_lat.size and np.all(np.abs(finite_lat) < 85):
        # One degree of longitude is cos(latitude) as long as one degree of latitude.
        aspect = 1.0 / np.cos(np.deg2rad(np.mean(finite_lat)))
        for ax in axes:
            ax.set_aspect(aspect, adjustable="box")
    scale = "log colour scale, " if log_color else ""
    bar = fig.colorbar(
        mappable,
        ax=list(axes),
        extend="both",
        shrink=0.9,
        label=f"{_label(target, units)}, {scale}clipped to 1st to 99th percentile",
    )
    if currency_symbol((units or {}).get(target)) is not None:
        _money_ticks(bar.ax, "y", _label(target, units))
    elif not log_color and vmax >= 1e4:
        from matplotlib.ticker import FuncFormatter

        bar.formatter = FuncFormatter(lambda v, _: f"{v:,.0f}")
    return fig
