"""Predictions against the truth, for a numeric target in original units.

Every function here returns a :class:`~matplotlib.figure.Figure` and shares these parameters
(each docstring lists only its own):

y_true, y_pred : array-like of shape (n_samples,)
    True and predicted values in original units; rows where either is not finite are dropped.
label : str, default="value"
    Name and unit of the values, e.g. ``"price (USD)"`` (a currency unit gives ``$100k`` ticks).
title : str, optional
    Figure title; default: one naming the target.
log : bool, default=False
    Logarithmic axes; non-positive values are dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nnforge._format import format_quantity
from nnforge.metrics import mean_absolute_error, r2_score
from nnforge.plots._base import (
    _DENSE,
    PRED_COLOR,
    TRUE_COLOR,
    _alpha,
    _axes,
    _binned_median,
    _figure,
    _halo,
    _money_ticks,
    _name_of,
    _note,
    _unit_of,
    _vector,
)

__all__ = [
    "error_histogram",
    "predicted_vs_true",
    "predicted_vs_true_by_fold",
    "proportional_error",
    "residuals",
]


def predicted_vs_true(
    y_true: Any,
    y_pred: Any,
    log: bool = False,
    *,
    label: str = "value",
    title: str | None = None,
    hexbin: bool | None = None,
) -> Figure:
    """Predicted against true values with the identity line; density bins for many points.

    Parameters
    ----------
    hexbin : bool, optional
        Draw a hexagonal density map instead of points. Default: when more than 3000 points.
    """
    t, p = _vector(y_true, "y_true"), _vector(y_pred, "y_pred")
    if t.shape != p.shape:
        msg = f"`y_true` and `y_pred` must have the same length. Received: {len(t)} and {len(p)}"
        raise ValueError(msg)
    keep = np.isfinite(t) & np.isfinite(p)
    if log:
        keep &= (t > 0) & (p > 0)
    t, p = t[keep], p[keep]
    scale = "log" if log else "linear"
    fig, ax = _axes(
        (6.4, 5.6),
        title or f"Predicted vs true {_name_of(label)}",
        f"true {label}",
        f"predicted {label}",
    )
    if t.size == 0:
        _note(ax, "no finite values to plot")
        return fig
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    if hexbin if hexbin is not None else t.size > _DENSE:
        _density(ax, t, p, xscale=scale, yscale=scale, extent=_extent(lo, hi, log))
    else:
        ax.scatter(t, p, s=8, alpha=_alpha(t.size), color=PRED_COLOR, lw=0, label="rows")
        ax.set_xscale(scale)
        ax.set_yscale(scale)
    ax.plot([lo, hi], [lo, hi], color=TRUE_COLOR, ls="--", lw=1.2, label="identity (perfect)")
    pad = (hi / lo) ** 0.03 if log and lo > 0 else None
    limits = (lo / pad, hi * pad) if pad else (lo - 0.03 * (hi - lo), hi + 0.03 * (hi - lo))
    ax.set_xlim(limits)
    ax.set_ylim(limits)
    ax.set_aspect("equal", adjustable="box")
    r2, mae = float(r2_score(t, p)), float(mean_absolute_error(t, p))
    ax.text(
        0.03,
        0.97,
        f"R² = {r2:.3f}\nMAE = {format_quantity(mae, _unit_of(label))}\nn = {t.size:,}",
        va="top",
        ha="left",
        transform=ax.transAxes,
        fontsize="small",
        bbox={"boxstyle": "round", "fc": "white", "alpha": 0.8},
    )
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(True, alpha=0.3)
    _money_ticks(ax, "x", label)
    _money_ticks(ax, "y", label)
    return fig


def _density(ax: Axes, x: np.ndarray, y: np.ndarray, **scales: Any) -> None:
    """Rows per hexagon on a log colour scale, where a scatter of that many points is a blot."""
    hb = ax.hexbin(
        x, y, gridsize=70, bins="log", mincnt=1, cmap="viridis", linewidths=0.1, **scales
    )
    ax.figure.colorbar(hb, ax=ax, label="rows per hexagon (log scale)")


def _extent(lo: float, hi: float, log: bool) -> tuple[float, float, float, float]:
    if log:
        lo, hi = np.log10(lo), np.log10(hi)
    return (lo, hi, lo, hi)


def _finite_pairs(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, p, keep)``: true and predicted values where both are finite."""
    t, p = _vector(y_true, "y_true"), _vector(y_pred, "y_pred")
    if t.shape != p.shape:
        msg = f"`y_true` and `y_pred` must have the same length. Received: {len(t)} and {len(p)}"
        raise ValueError(msg)
    keep = np.isfinite(t) & np.isfinite(p)
    return t[keep], p[keep], keep


def _legend_and_grid(ax: Axes, loc: str, cut: str) -> None:
    """The legend, titled with the rows the axis leaves out (``cut``), and a light grid."""
    ax.legend(loc=loc, fontsize="small", title=cut, title_fontsize="x-small")
    ax.grid(True, alpha=0.3)


def residuals(
    y_true: Any, y_pred: Any, *, label: str = "value", log: bool = False, title: str | None = None
) -> Figure:
    """Residuals (predicted - true) against the prediction, with the binned median residual.

    A trend in the median shows where the model is biased (e.g. expensive houses predicted
    too low); the spread shows where it is unsure. ``log`` makes only the prediction axis
    logarithmic.
    """
    t, p, _ = _finite_pairs(y_true, y_pred)
    if log:
        t, p = t[p > 0], p[p > 0]
    r = p - t
    fig, ax = _axes(
        (7.5, 4.6),
        title or f"Residuals of {_name_of(label)} against the prediction",
        f"predicted {label}",
        f"residual: predicted - true {label}",
    )
    if r.size == 0:
        _note(ax, "no finite values to plot")
        return fig
    if log:
        ax.set_xscale("log")
    if r.size > _DENSE:
        _density(ax, p, r, xscale="log" if log else "linear")
    else:
        ax.scatter(p, r, s=8, alpha=_alpha(r.size), color=PRED_COLOR, lw=0)
    ax.axhline(0, color=TRUE_COLOR, ls="--", lw=1.2, label="no error")
    centres, medians = _binned_median(p, r)
    if centres.size:
        ax.plot(
            centres,
            medians,
            color="black",
            lw=2,
            marker="o",
            ms=3,
            path_effects=_halo(),
            label="median residual per bin",
        )
    low, high = np.percentile(r, [0.5, 99.5])
    span = max(high - low, 1e-12)
    ax.set_ylim(low - 0.1 * span, high + 0.1 * span)
    _legend_and_grid(ax, "upper left", "0.5 % most extreme rows off the axis")
    _money_ticks(ax, "y", label)
    _money_ticks(ax, "x", label)
    return fig


def error_histogram(
    y_true: Any, y_pred: Any, *, label: str = "value", title: str | None = None
) -> Figure:
    """Histogram of the errors (predicted - true), with the MAE and the median error marked."""
    t, p, _ = _finite_pairs(y_true, y_pred)
    errors = p - t
    fig, ax = _axes(
        (7.5, 4.2),
        title or f"Distribution of the errors on {_name_of(label)}",
        f"error: predicted - true {label}",
        "rows",
    )
    if errors.size == 0:
        _note(ax, "no finite values to plot")
        return fig
    low, high = np.percentile(errors, [0.5, 99.5])
    inside = errors[(errors >= low) & (errors <= high)]
    ax.hist(inside, bins=60, color=PRED_COLOR, alpha=0.75)
    mae = float(mean_absolute_error(t, p))
    unit = _unit_of(label)
    median = float(np.median(errors))
    for x, style, name in ((0.0, "--", "no error"), (median, "-", "median error")):
        ax.axvline(
            x,
            color=TRUE_COLOR if name == "no error" else "black",
            ls=style,
            lw=1.2,
            label=f"{name} ({format_quantity(x, unit)})" if x else name,
        )
    ax.axvspan(-mae, mae, color="0.85", zorder=0, label=f"± MAE ({format_quantity(mae, unit)})")
    _legend_and_grid(ax, "upper right", "0.5 % most extreme rows each side cut")
    _money_ticks(ax, "x", label)
    return fig


def proportional_error(
    y_true: Any, y_pred: Any, *, label: str = "value", title: str | None = None
) -> Figure:
    """Histogram of the proportional distance ``(predicted - true) / |true|`` in percent, with its
    mean and standard deviation (the seed's figure 6: "predictions on average 20 % off").

    Rows with a true value of 0 are left out.
    """
    t, p, _ = _finite_pairs(y_true, y_pred)
    nonzero = t != 0
    ratio = 100.0 * (p[nonzero] - t[nonzero]) / np.abs(t[nonzero])
    fig, ax = _axes(
        (7.5, 4.2),
        title or f"Proportional distance of the predicted {_name_of(label)}",
        "(predicted - true) / true, %",
        "rows",
    )
    if ratio.size == 0:
        _note(ax, "no finite, non-zero values to plot")
        return fig
    low, high = np.percentile(ratio, [0.5, 99.5])
    ax.hist(ratio[(ratio >= low) & (ratio <= high)], bins=60, color=PRED_COLOR, alpha=0.75)
    distance = np.abs(ratio)
    mean, std = float(distance.mean()), float(distance.std())
    ax.axvline(0, color=TRUE_COLOR, ls="--", lw=1.2, label="no error")
    ax.axvspan(
        -mean, mean, color="0.85", zorder=0, label=f"± mean distance {mean:.1f} % (std {std:.1f} %)"
    )
    _legend_and_grid(ax, "upper right", "0.5 % most extreme rows each side cut")
    return fig


def predicted_vs_true_by_fold(
    y_true: Any, y_pred: Any, folds: Any, *, label: str = "value", log: bool = False
) -> Figure:
    """Predicted against true values, one small panel per fold (each on its held-out rows).

    Parameters
    ----------
    folds : array-like of shape (n_samples,)
        The fold that predicted each row.
    """
    t, p, keep = _finite_pairs(y_true, y_pred)
    f = np.asarray(folds)[keep]
    if log:
        pos = (t > 0) & (p > 0)
        t, p, f = t[pos], p[pos], f[pos]
    names = np.unique(f)
    n = max(len(names), 1)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = _figure(2.9 * cols + 0.6, 2.7 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
    fig.suptitle(f"Predicted vs true {_name_of(label)}, per fold (held-out rows)")
    lo = float(min(t.min(), p.min())) if t.size else 0.0
    hi = float(max(t.max(), p.max())) if t.size else 1.0
    for ax, fold in zip(axes, names, strict=False):
        sel = f == fold
        ax.scatter(
            t[sel],
            p[sel],
            s=3,
            lw=0,
            alpha=_alpha(int(sel.sum())),
            color=PRED_COLOR,
            rasterized=True,
        )
        ax.plot([lo, hi], [lo, hi], color=TRUE_COLOR, ls="--", lw=1)
        r2 = float(r2_score(t[sel], p[sel])) if sel.sum() > 1 else float("nan")
        ax.set_title(f"fold {fold}: R² {r2:.3f}, n={int(sel.sum()):,}", fontsize="small")
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    grid = axes.reshape(rows, cols)
    for ax in grid[-1]:
        ax.set_xlabel(f"true {label}", fontsize="small")
    for ax in grid[:, 0]:
        ax.set_ylabel(f"predicted {label}", fontsize="small")
    for ax in axes[: len(names)]:
        _money_ticks(ax, "x", label)
        _money_ticks(ax, "y", label)
    return fig
