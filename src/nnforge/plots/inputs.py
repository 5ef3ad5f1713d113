"""The model inputs: distributions before and after preprocessing, permutation importance, and
the XOR network's output over its two inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from nnforge.plots._base import (
    PRED_COLOR,
    TRUE_COLOR,
    _axes,
    _figure,
    _float,
    _note,
    _require_columns,
)

__all__ = ["feature_boxplots", "importance_bar", "xor_surface"]


def _numeric_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c, d in frame.schema.items() if d.is_numeric() or d == pl.Boolean]


def _standardised(frame: pl.DataFrame, column: str) -> np.ndarray:
    values = _float(frame, column)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return values
    std = values.std()
    return (values - values.mean()) / std if std > 0 else values - values.mean()


def feature_boxplots(
    before: pl.DataFrame,
    after: pl.DataFrame,
    *,
    features: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Box plots of every numeric feature before (red) and after (blue) preprocessing.

    Features live on very different scales, so each distribution is standardised for display
    (``(x - mean) / std``, computed separately before and after): the plot compares shapes,
    skewness and how extreme the outliers are. The axis is linear within ±3 std and logarithmic
    beyond, so extreme outliers stay visible without squashing the boxes.

    Parameters
    ----------
    before, after : polars.DataFrame
        Feature frames before and after preprocessing; non-numeric columns are ignored. A feature
        found in only one of the two frames gets a single box.
    features : sequence of str, optional
        Features to show, in order. Default: numeric columns of ``after`` then of ``before``.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    _require_columns(before, [], "before")
    _require_columns(after, [], "after")
    num_before, num_after = _numeric_columns(before), _numeric_columns(after)
    if features is None:
        features = list(dict.fromkeys(num_after + num_before))
    features = list(features)
    n = max(len(features), 1)
    fig, ax = _axes(
        (8.0, min(max(1.4 + 0.42 * n, 3.0), 30.0)),
        title or "Feature distributions before and after preprocessing",
        "standardised value (std from the mean; log scale beyond ±3)",
        "feature",
    )
    if not features:
        _note(ax, "no numeric features")
        return fig
    flier = {"marker": ".", "markersize": 2, "alpha": 0.4, "markeredgewidth": 0}
    for frame, present, offset, color in (
        (before, num_before, -0.2, TRUE_COLOR),
        (after, num_after, 0.2, PRED_COLOR),
    ):
        data, positions = [], []
        for i, feature in enumerate(features):
            if feature in present:
                data.append(_standardised(frame, feature))
                positions.append(i + offset)
        if not data:
            continue
        boxes = ax.boxplot(
            data,
            positions=positions,
            widths=0.36,
            orientation="horizontal",
            patch_artist=True,
            flierprops={**flier, "markerfacecolor": color},
            medianprops={"color": "black"},
            manage_ticks=False,
        )
        for box in boxes["boxes"]:
            box.set_facecolor(color)
            box.set_alpha(0.55)
    ax.set_xscale("symlog", linthresh=3.0, linscale=2.0)
    ax.axvspan(-3, 3, color="0.95", zorder=0)
    low, high = ax.get_xlim()
    ticks = [t for t in (-100, -30, -10, -3, -2, -1, 0, 1, 2, 3, 10, 30, 100) if low <= t <= high]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yticks(range(len(features)))
    ax.set_yticklabels(features, fontsize="small")
    ax.set_ylim(len(features) - 0.5, -0.5)
    ax.grid(True, axis="x", alpha=0.3)
    fig.legend(
        handles=[
            Patch(color=TRUE_COLOR, alpha=0.55, label="before preprocessing"),
            Patch(color=PRED_COLOR, alpha=0.55, label="after preprocessing"),
        ],
        loc="outside lower center",
        ncols=2,
        fontsize="small",
    )
    return fig


def importance_bar(
    importance: pl.DataFrame,
    *,
    top: int | None = None,
    title: str | None = None,
    measure: str = "the R² drop",
) -> Figure:
    """Sorted horizontal bar chart of relative importance (%) with ± std error bars.

    Parameters
    ----------
    importance : polars.DataFrame
        ``importance.csv`` (or ``importance_groups.csv``): ``feature``, ``importance`` (mean R²
        drop), ``importance_std`` and ``relative`` (percent). Without ``relative`` the
        percentages are computed over the positive importances.
    top : int, optional
        Show only the ``top`` most important features.
    title : str, optional
        Figure title.
    measure : str, default="the R² drop"
        What the importance measures, for the axis label (e.g. "the log loss increase").

    Returns
    -------
    Figure
    """
    _require_columns(importance, ["feature", "importance"], "importance")
    imp = _float(importance, "importance")
    if "relative" in importance.columns:
        rel = _float(importance, "relative")
    else:
        total = imp[imp > 0].sum()
        rel = 100.0 * imp / total if total > 0 else np.zeros_like(imp)
    std = _float(importance, "importance_std") if "importance_std" in importance.columns else None
    if std is not None:
        # Express the std in percent with the same factor that turned importance into relative.
        ratio = rel / np.where(imp != 0, imp, np.nan)
        ratio = ratio[np.isfinite(ratio)]
        std = std * (float(np.median(ratio)) if ratio.size else 0.0)
    order = np.argsort(-np.nan_to_num(rel, nan=-np.inf), kind="stable")
    if top is not None:
        order = order[:top]
    names = [str(importance.get_column("feature")[int(i)]) for i in order]
    values = rel[order]
    n = max(len(names), 1)
    fig = _figure(7.5, min(max(1.3 + 0.3 * n, 3.0), 24.0))
    ax = fig.add_subplot()
    colors = [PRED_COLOR if v >= 0 else "0.6" for v in np.nan_to_num(values)]
    ax.barh(
        np.arange(len(names)),
        values,
        xerr=None if std is None else std[order],
        color=colors,
        error_kw={"ecolor": "0.25", "elinewidth": 0.8, "capsize": 2},
    )
    ends = np.maximum(values, 0) + (0 if std is None else np.nan_to_num(std[order]))
    for i, (v, end) in enumerate(zip(values, ends, strict=True)):
        if np.isfinite(v):
            ax.text(end, i, f"  {v:.1f}%", va="center", ha="left", fontsize="x-small")
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels(names, fontsize="small")
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(right=float(np.nanmax(np.append(ends, 0))) * 1.15 + 1e-9)
    ax.set_xlabel(f"relative importance (% of {measure} when the feature is shuffled)")
    ax.set_ylabel("feature")
    ax.set_title(title or "Permutation feature importance")
    ax.axvline(0, color="0.3", lw=0.8)
    ax.grid(True, axis="x", alpha=0.3)
    if std is not None:
        ax.legend(
            handles=[Line2D([], [], color="0.25", lw=0.8, label="± std across folds")],
            loc="lower right",
            fontsize="small",
        )
    return fig


def xor_surface(grid_x: Any, grid_y: Any, z: Any, *, title: str | None = None) -> Figure:
    """The XOR network's prediction over [0, 1]²: heatmap, 0.5 contour and the four cases.

    Parameters
    ----------
    grid_x, grid_y : array-like of shape (nx,) and (ny,), or both of shape (ny, nx)
        Grid coordinates (axes, or the output of ``np.meshgrid``).
    z : array-like of shape (ny, nx) or (nx * ny,)
        Predictions; ``z[j, i]`` is the prediction at ``(x[i], y[j])`` (meshgrid's ``"xy"``
        indexing). A flat array is reshaped row by row.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    gx, gy, zz = (np.asarray(a, dtype=np.float64) for a in (grid_x, grid_y, z))
    if gx.ndim == 2:
        gx, gy = gx[0, :], gy[:, 0]
    nx, ny = gx.size, gy.size
    if zz.ndim == 1 or zz.shape in ((nx * ny, 1), (1, nx * ny)):
        if zz.size != nx * ny:
            msg = f"`z` must hold nx*ny={nx * ny} values. Received: z.shape={zz.shape}"
            raise ValueError(msg)
        zz = zz.reshape(ny, nx)
    elif zz.shape == (nx, ny) and nx != ny:
        zz = zz.T
    if zz.shape != (ny, nx):
        msg = f"`z` must have shape (ny, nx)=({ny}, {nx}). Received: z.shape={zz.shape}"
        raise ValueError(msg)
    fig = _figure(5.8, 5.0)
    ax = fig.add_subplot()
    in_unit = np.nanmin(zz) >= -0.05 and np.nanmax(zz) <= 1.05
    mesh = ax.pcolormesh(
        gx,
        gy,
        zz,
        shading="auto",
        cmap="coolwarm",
        vmin=0.0 if in_unit else None,
        vmax=1.0 if in_unit else None,
    )
    fig.colorbar(mesh, ax=ax, label="predicted xor(x₁, x₂)")
    if np.nanmin(zz) < 0.5 < np.nanmax(zz) and nx > 1 and ny > 1:
        contour = ax.contour(gx, gy, zz, levels=[0.5], colors="black", linewidths=1.2)
        ax.clabel(contour, fmt="%.1f", fontsize="small")
    for cx, cy in ((0, 0), (0, 1), (1, 0), (1, 1)):
        ax.scatter([cx], [cy], s=90, c="white", edgecolors="black", zorder=3, clip_on=False)
        ax.annotate(
            f"{cx ^ cy}",
            (cx, cy),
            ha="center",
            va="center",
            fontsize="small",
            zorder=4,
            annotation_clip=False,
        )
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(title or "XOR prediction surface over [0, 1]²")
    return fig
