"""Figures for training runs, predictions and importance: one public function per figure.

Every function takes plain Polars frames or NumPy arrays (never a run directory, so the functions
compose with any workflow) and returns a :class:`matplotlib.figure.Figure`. Figures are built on
the Agg canvas directly, without :mod:`matplotlib.pyplot`: importing this module never selects a
global backend nor opens a window, and figures are freed as soon as they are unreferenced.

Colours follow the seed report: true values in red, predictions in blue; training in blue,
validation in orange.

Examples
--------
>>> fig = loss_curves(pl.read_csv("runs/kc/history.csv"))  # doctest: +SKIP
>>> save_figure(fig, "runs/kc/plots/loss.png")  # doctest: +SKIP
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from nnforge._format import currency_symbol, format_number, format_quantity, with_unit
from nnforge._io import atomic_path
from nnforge.metrics import mean_absolute_error, r2_score

__all__ = [
    "calibration_plot",
    "compare_runs",
    "confusion_matrix",
    "error_histogram",
    "feature_boxplots",
    "figure_to_png",
    "geo_map",
    "importance_bar",
    "loss_comparison",
    "loss_curves",
    "metric_curves",
    "predicted_vs_true",
    "predicted_vs_true_by_fold",
    "predictions_by_feature",
    "probability_histograms",
    "proportional_error",
    "r2_curves",
    "residuals",
    "save_figure",
    "xor_surface",
]

TRUE_COLOR = "tab:red"
PRED_COLOR = "tab:blue"
TRAIN_COLOR = "tab:blue"
VALID_COLOR = "tab:orange"
DPI = 100

# Above this many points, scatter plots switch to density (hexbin) or lighter markers.
_DENSE = 3000
# Features with at most this many distinct values are drawn as discrete (jittered) positions.
_DISCRETE = 30

_METRIC_LABELS = {
    "train_loss": "training loss (preprocessed target)",
    "val_loss": "validation loss (preprocessed target)",
    "r2": "validation R²",
    "mae": "validation MAE",
    "lr": "learning rate",
    "val_loss_std": "validation loss std",
    "accuracy": "validation accuracy",
    "balanced_accuracy": "validation balanced accuracy",
    "log_loss": "validation log loss",
    "roc_auc": "validation ROC AUC",
}


# --------------------------------------------------------------------------------------------
# helpers


def _figure(width: float, height: float) -> Figure:
    """A new constrained-layout figure attached to its own Agg canvas (no pyplot state)."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _label(name: str, units: Mapping[str, str] | None) -> str:
    """``"price (USD)"`` when ``units`` knows the column, else the bare name."""
    return with_unit(name, (units or {}).get(name))


def _require_columns(frame: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    if not isinstance(frame, pl.DataFrame):
        msg = f"`{name}` must be a polars.DataFrame. Received: {name}={type(frame).__name__}"
        raise TypeError(msg)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = (
            f"`{name}` is missing the column(s) {missing}. Received: {name}.columns={frame.columns}"
        )
        raise ValueError(msg)


def _float(frame: pl.DataFrame, column: str) -> np.ndarray:
    """A column as float64 with nulls as NaN."""
    return frame.get_column(column).cast(pl.Float64).to_numpy().astype(np.float64, copy=False)


def _vector(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        msg = f"`{name}` must be 1-D (one value per row). Received: {name}.shape={arr.shape}"
        raise ValueError(msg)
    return arr


def _note(ax: Axes, text: str) -> None:
    """Write a centred grey note in an empty axes."""
    ax.text(0.5, 0.5, text, ha="center", va="center", color="0.4", transform=ax.transAxes)


def _history(history: pl.DataFrame, metric: str) -> pl.DataFrame:
    """The ``fold, epoch, metric`` rows of a long history with a finite metric value."""
    _require_columns(history, ["epoch", metric], "history")
    if "fold" not in history.columns:
        history = history.with_columns(pl.lit(0).alias("fold"))
    value = pl.col(metric).cast(pl.Float64)
    return (
        history.select("fold", "epoch", value.alias(metric))
        .filter(value.is_not_null() & value.is_finite())
        .sort("fold", "epoch")
    )


def _mean_std(rows: pl.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-epoch mean and (population) std of ``metric`` across folds."""
    agg = (
        rows.group_by("epoch")
        .agg(pl.col(metric).mean().alias("mean"), pl.col(metric).std(ddof=0).alias("std"))
        .sort("epoch")
    )
    std = agg.get_column("std").fill_null(0.0).to_numpy()
    return agg.get_column("epoch").to_numpy(), agg.get_column("mean").to_numpy(), std


def _folds(rows: pl.DataFrame) -> list[tuple[Any, np.ndarray, np.ndarray]]:
    """``(fold, epochs, values)`` per fold, sorted by fold; the metric is the last column."""
    metric = rows.columns[-1]
    parts = rows.partition_by("fold", as_dict=True)
    return [
        (fold, part.get_column("epoch").to_numpy(), part.get_column(metric).to_numpy())
        for (fold,), part in sorted(parts.items(), key=lambda item: item[0])
    ]


def _fold_colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"] if n <= 10 else colormaps["viridis"]
    return [cmap(i if n <= 10 else i / max(n - 1, 1)) for i in range(n)]


def _use_log(values: np.ndarray, log: bool | None) -> bool:
    positive = values.size > 0 and bool(np.all(values > 0))
    return positive if log is None else bool(log) and positive


def _alpha(n: int) -> float:
    """Marker opacity that keeps 100 or 20k overlapping points readable."""
    return float(np.clip(800.0 / max(n, 1), 0.12, 0.8))


# --------------------------------------------------------------------------------------------
# output


def figure_to_png(fig: Figure, *, dpi: float = DPI) -> bytes:
    """Render ``fig`` to PNG bytes.

    Parameters
    ----------
    fig : Figure
        Any matplotlib figure.
    dpi : float, default=100
        Resolution of the image.

    Returns
    -------
    bytes
        The PNG file contents.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | Path, *, dpi: float = DPI) -> Path:
    """Write ``fig`` as a PNG file atomically (temporary name, then rename).

    Parameters
    ----------
    fig : Figure
        Any matplotlib figure.
    path : str or Path
        Destination; parent folders are created.
    dpi : float, default=100
        Resolution of the image.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


# --------------------------------------------------------------------------------------------
# training curves


def loss_curves(
    history: pl.DataFrame, *, log: bool | None = None, title: str | None = None
) -> Figure:
    """Training and validation loss per epoch: thin per-fold lines, mean ± std band across folds.

    Parameters
    ----------
    history : polars.DataFrame
        Long-format ``history.csv``: ``fold, epoch, train_loss, val_loss, ...``. Null validation
        values (epochs without evaluation) are skipped.
    log : bool, optional
        Logarithmic loss axis. Default: log when every loss is positive.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    _require_columns(history, ["epoch", "train_loss"], "history")
    fig = _figure(7.5, 4.6)
    ax = fig.add_subplot()
    series = [("train_loss", "training", TRAIN_COLOR)]
    if "val_loss" in history.columns:
        series.append(("val_loss", "validation", VALID_COLOR))
    handles: list[Any] = []
    values: list[np.ndarray] = []
    n_folds = 0
    for metric, name, color in series:
        rows = _history(history, metric)
        if rows.height == 0:
            continue
        folds = _folds(rows)
        n_folds = max(n_folds, len(folds))
        for _, epochs, vals in folds:
            ax.plot(epochs, vals, color=color, lw=0.7, alpha=0.35)
            values.append(vals)
        epochs, mean, std = _mean_std(rows, metric)
        ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, lw=0)
        (line,) = ax.plot(epochs, mean, color=color, lw=2.0, marker="." if len(epochs) < 30 else "")
        band = f", mean ± std over {len(folds)} folds" if len(folds) > 1 else ""
        line.set_label(f"{name}{band}")
        handles.append(line)
    if not handles:
        _note(ax, "no loss values recorded")
    else:
        all_values = np.concatenate(values)
        if _use_log(all_values, log):
            ax.set_yscale("log")
        if n_folds > 1:
            handles.append(Line2D([], [], color="0.5", lw=0.7, alpha=0.6, label="single folds"))
        ax.legend(handles=handles, loc="upper right", fontsize="small")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (on preprocessed target)")
    ax.set_title(title or "Training and validation loss per epoch")
    ax.grid(True, which="major", alpha=0.3)
    return fig


def r2_curves(history: pl.DataFrame, *, title: str | None = None) -> Figure:
    """Validation R² per epoch, one line per fold plus the mean across folds.

    Parameters
    ----------
    history : polars.DataFrame
        Long-format ``history.csv`` with ``fold, epoch, r2``; null R² values are skipped.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        Very negative early R² values are clipped at -1 so the converged part stays readable.
    """
    rows = _history(history, "r2")
    fig = _figure(7.5, 4.6)
    ax = fig.add_subplot()
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation R² (original units)")
    ax.set_title(title or "Validation R² per fold and epoch")
    ax.grid(True, alpha=0.3)
    if rows.height == 0:
        _note(ax, "no R² values recorded")
        return fig
    folds = _folds(rows)
    colors = _fold_colors(len(folds))
    for color, (fold, epochs, vals) in zip(colors, folds, strict=True):
        ax.plot(epochs, vals, color=color, lw=1.0, alpha=0.85, label=f"fold {fold}")
    if len(folds) > 1:
        epochs, mean, _ = _mean_std(rows, "r2")
        ax.plot(epochs, mean, color="black", lw=2.0, ls="--", label="mean")
    vals = rows.get_column("r2").to_numpy()
    low, high = float(np.min(vals)), float(np.max(vals))
    bottom = max(low, -1.0)
    span = max(high - bottom, 1e-3)
    ax.set_ylim(bottom - 0.05 * span, min(high + 0.05 * span, 1.0 + 0.02 * span))
    ax.legend(
        loc="lower right",
        fontsize="small",
        ncol=2 if len(folds) > 4 else 1,
        title="R² below -1 not shown" if low < -1.0 else None,
        title_fontsize="small",
    )
    return fig


def metric_curves(
    history: pl.DataFrame, metric: str = "accuracy", *, title: str | None = None
) -> Figure:
    """A validation metric (``accuracy``, ``log_loss``...) per epoch: one line per fold and
    the mean across folds."""
    rows = _history(history, metric)
    label = _METRIC_LABELS.get(metric, metric)
    fig = _figure(7.5, 4.6)
    ax = fig.add_subplot()
    ax.set_xlabel("epoch")
    ax.set_ylabel(label)
    ax.set_title(title or f"{label[0].upper()}{label[1:]} per fold and epoch")
    ax.grid(True, alpha=0.3)
    if rows.height == 0:
        _note(ax, f"no {metric} values recorded")
        return fig
    folds = _folds(rows)
    for color, (fold, epochs, vals) in zip(_fold_colors(len(folds)), folds, strict=True):
        ax.plot(epochs, vals, color=color, lw=1.0, alpha=0.85, label=f"fold {fold}")
    if len(folds) > 1:
        epochs, mean, _ = _mean_std(rows, metric)
        ax.plot(epochs, mean, color="black", lw=2.0, ls="--", label="mean")
    ax.legend(fontsize="small", ncol=2 if len(folds) > 4 else 1)
    return fig


def confusion_matrix(
    counts: Any, labels: Sequence[Any], *, normalize: bool = False, title: str | None = None
) -> Figure:
    """A confusion matrix as a heat map: rows are the true class, columns the predicted one.

    ``normalize`` divides every row by its total, so the diagonal is each class's recall.
    """
    cm = np.asarray(counts, dtype=np.float64)
    k = len(labels)
    if cm.shape != (k, k):
        msg = f"`counts` must be ({k}, {k}) for {k} labels. Received: counts.shape={cm.shape}"
        raise ValueError(msg)
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    size = 2.2 + 0.55 * k
    fig = _figure(size + 1.2, size)
    ax = fig.add_subplot()
    image = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else max(cm.max(), 1))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    names = [str(v) for v in labels]
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(
        title
        or (
            "Confusion matrix, share of each true class"
            if normalize
            else "Confusion matrix, counts"
        )
    )
    if k <= 15:
        high = cm.max() / 2 if cm.max() > 0 else 0.5
        for i in range(k):
            for j in range(k):
                text = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                color = "white" if cm[i, j] > high else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize="small", color=color)
    return fig


def calibration_plot(
    y_true: Any, proba: Any, *, bins: int = 10, label: str = "class 1", title: str | None = None
) -> Figure:
    """Reliability diagram of a binary target: observed share of positives against the mean
    predicted probability, in equal-width probability bins (marker area ~ rows in the bin)."""
    t = _vector(y_true, "y_true")
    p = _vector(proba, "proba")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    fig = _figure(6.0, 5.4)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1, label="perfectly calibrated")
    xs, ys, ns = [], [], []
    for b in range(bins):
        inside = which == b
        if inside.any():
            xs.append(float(p[inside].mean()))
            ys.append(float(t[inside].mean()))
            ns.append(int(inside.sum()))
    if xs:
        area = 20 + 300 * np.asarray(ns) / max(ns)
        ax.plot(xs, ys, color=PRED_COLOR, lw=1.2)
        ax.scatter(xs, ys, s=area, color=PRED_COLOR, alpha=0.7, label="out-of-fold bins")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"mean predicted probability of {label}")
    ax.set_ylabel(f"observed share of {label}")
    ax.set_title(title or "Calibration (reliability)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return fig


def probability_histograms(
    y_true: Any, proba: Any, labels: Sequence[Any], *, title: str | None = None
) -> Figure:
    """For every class, the histogram of its predicted probability, split by whether the row
    truly is that class (red) or not (blue): good separation puts them at opposite ends."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    k = len(labels)
    shown = list(range(k)) if k > 2 else [1]  # for 2 classes one panel says it all
    cols = min(len(shown), 3)
    rows = int(np.ceil(len(shown) / cols))
    fig = _figure(4.2 * cols, 3.2 * rows)
    edges = np.linspace(0.0, 1.0, 21)
    for i, c in enumerate(shown):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.hist(p[t == c, c], bins=edges, color=TRUE_COLOR, alpha=0.6, label=f"is {labels[c]}")
        ax.hist(p[t != c, c], bins=edges, color=PRED_COLOR, alpha=0.6, label="other rows")
        ax.set_yscale("log")
        ax.set_xlabel(f"predicted probability of {labels[c]}")
        ax.set_ylabel("rows")
        ax.legend(fontsize="x-small")
    fig.suptitle(title or "Out-of-fold predicted probabilities")
    return fig


def compare_runs(
    histories: Mapping[str, pl.DataFrame],
    metric: str = "val_loss",
    *,
    log: bool | None = None,
    title: str | None = None,
) -> Figure:
    """Overlay several runs' mean curves (± std band across folds) for one history metric.

    Parameters
    ----------
    histories : mapping of str to polars.DataFrame
        Run name to long-format history (``fold, epoch, <metric>``).
    metric : str, default="val_loss"
        History column to compare: ``train_loss``, ``val_loss``, ``r2``, ``mae``...
    log : bool, optional
        Logarithmic y axis. Default: log for losses (when positive), linear otherwise.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    if not histories:
        msg = "`histories` must name at least one run. Received: histories={}"
        raise ValueError(msg)
    fig = _figure(7.5, 4.6)
    ax = fig.add_subplot()
    colors = _fold_colors(len(histories))
    values = []
    for color, (name, history) in zip(colors, histories.items(), strict=True):
        rows = _history(history, metric)
        if rows.height == 0:
            continue
        epochs, mean, std = _mean_std(rows, metric)
        n_folds = rows.get_column("fold").n_unique()
        ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.15, lw=0)
        label = f"{name} (final {mean[-1]:.4g}, {n_folds} fold{'s' if n_folds > 1 else ''})"
        ax.plot(epochs, mean, color=color, lw=1.8, label=label)
        values.append(mean)
    ylabel = _METRIC_LABELS.get(metric, metric)
    if values:
        default_log = None if "loss" in metric else False
        if _use_log(np.concatenate(values), default_log if log is None else log):
            ax.set_yscale("log")
        ax.legend(loc="best", fontsize="small")
    else:
        _note(ax, f"no run recorded `{metric}`")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{ylabel}, mean over folds")
    ax.set_title(title or f"Comparison of runs: {ylabel}")
    ax.grid(True, which="major", alpha=0.3)
    return fig


# --------------------------------------------------------------------------------------------
# predictions


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
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted values in the same (original) units.
    log : bool, default=False
        Logarithmic axes; non-positive values are dropped from the plot.
    label : str, default="value"
        Name and unit of the values, e.g. ``"price (USD)"``.
    title : str, optional
        Figure title.
    hexbin : bool, optional
        Draw a hexagonal density map instead of points. Default: when more than 3000 points.

    Returns
    -------
    Figure
    """
    t, p = _vector(y_true, "y_true"), _vector(y_pred, "y_pred")
    if t.shape != p.shape:
        msg = f"`y_true` and `y_pred` must have the same length. Received: {len(t)} and {len(p)}"
        raise ValueError(msg)
    keep = np.isfinite(t) & np.isfinite(p)
    if log:
        keep &= (t > 0) & (p > 0)
    t, p = t[keep], p[keep]
    fig = _figure(6.4, 5.6)
    ax = fig.add_subplot()
    scale = "log" if log else "linear"
    ax.set_title(title or f"Predicted vs true {label.split(' (')[0]}")
    ax.set_xlabel(f"true {label}")
    ax.set_ylabel(f"predicted {label}")
    if t.size == 0:
        _note(ax, "no finite values to plot")
        return fig
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    if hexbin if hexbin is not None else t.size > _DENSE:
        hb = ax.hexbin(
            t,
            p,
            gridsize=70,
            bins="log",
            mincnt=1,
            cmap="viridis",
            xscale=scale,
            yscale=scale,
            extent=_extent(lo, hi, log),
            linewidths=0.1,
        )
        fig.colorbar(hb, ax=ax, label="rows per hexagon (log scale)")
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


def _finite_pairs(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, p, keep)``: true and predicted values where both are finite."""
    t, p = _vector(y_true, "y_true"), _vector(y_pred, "y_pred")
    if t.shape != p.shape:
        msg = f"`y_true` and `y_pred` must have the same length. Received: {len(t)} and {len(p)}"
        raise ValueError(msg)
    keep = np.isfinite(t) & np.isfinite(p)
    return t[keep], p[keep], keep


def residuals(
    y_true: Any, y_pred: Any, *, label: str = "value", log: bool = False, title: str | None = None
) -> Figure:
    """Residuals (predicted - true) against the prediction, with the binned median residual.

    A trend in the median shows where the model is biased (e.g. expensive houses predicted
    too low); the spread shows where it is unsure.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted values in original units.
    label : str, default="value"
        Name and unit of the values, e.g. ``"price (USD)"``.
    log : bool, default=False
        Logarithmic prediction axis (non-positive predictions dropped).
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    t, p, _ = _finite_pairs(y_true, y_pred)
    if log:
        t, p = t[p > 0], p[p > 0]
    r = p - t
    fig = _figure(7.5, 4.6)
    ax = fig.add_subplot()
    ax.set_title(title or f"Residuals of {label.split(' (')[0]} against the prediction")
    ax.set_xlabel(f"predicted {label}")
    ax.set_ylabel(f"residual: predicted - true {label}")
    if r.size == 0:
        _note(ax, "no finite values to plot")
        return fig
    if log:
        ax.set_xscale("log")
    if r.size > _DENSE:
        hb = ax.hexbin(
            p,
            r,
            gridsize=70,
            bins="log",
            mincnt=1,
            cmap="viridis",
            linewidths=0.1,
            xscale="log" if log else "linear",
        )
        fig.colorbar(hb, ax=ax, label="rows per hexagon (log scale)")
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
    ax.legend(
        loc="upper left",
        fontsize="small",
        title="0.5 % most extreme rows off the axis",
        title_fontsize="x-small",
    )
    ax.grid(True, alpha=0.3)
    _money_ticks(ax, "y", label)
    _money_ticks(ax, "x", label)
    return fig


def error_histogram(
    y_true: Any, y_pred: Any, *, label: str = "value", title: str | None = None
) -> Figure:
    """Histogram of the errors (predicted - true), with the MAE and the median error marked.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted values in original units.
    label : str, default="value"
        Name and unit of the values, e.g. ``"price (USD)"``.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    t, p, _ = _finite_pairs(y_true, y_pred)
    errors = p - t
    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot()
    ax.set_title(title or f"Distribution of the errors on {label.split(' (')[0]}")
    ax.set_xlabel(f"error: predicted - true {label}")
    ax.set_ylabel("rows")
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
    ax.legend(
        loc="upper right",
        fontsize="small",
        title="0.5 % most extreme rows each side cut",
        title_fontsize="x-small",
    )
    ax.grid(True, alpha=0.3)
    _money_ticks(ax, "x", label)
    return fig


def proportional_error(
    y_true: Any, y_pred: Any, *, label: str = "value", title: str | None = None
) -> Figure:
    """Histogram of the proportional distance ``(predicted - true) / |true|`` in percent, with its
    mean and standard deviation (the seed's figure 6: "predictions on average 20 % off").

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted values; rows with a true value of 0 are left out.
    label : str, default="value"
        Name and unit of the values.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    t, p, _ = _finite_pairs(y_true, y_pred)
    nonzero = t != 0
    ratio = 100.0 * (p[nonzero] - t[nonzero]) / np.abs(t[nonzero])
    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot()
    ax.set_title(title or f"Proportional distance of the predicted {label.split(' (')[0]}")
    ax.set_xlabel("(predicted - true) / true, %")
    ax.set_ylabel("rows")
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
    ax.legend(
        loc="upper right",
        fontsize="small",
        title="0.5 % most extreme rows each side cut",
        title_fontsize="x-small",
    )
    ax.grid(True, alpha=0.3)
    return fig


def loss_comparison(
    curves: Mapping[str, Any], *, title: str | None = None, ylabel: str = "training loss"
) -> Figure:
    """Loss per epoch of a few settings, each the median (and middle half) of several seeded runs.

    Median and quartiles, not mean ± std: losses of seeded runs are skewed (a few runs stall),
    and a quartile band stays positive on the logarithmic axis.

    Parameters
    ----------
    curves : mapping of str to array-like of shape (epochs, runs)
        Setting name (legend) to its losses, one column per seeded run (the seed's figures 4
        and 5 compare decay rates and dropout rates on XOR this way).
    title : str, optional
        Figure title.
    ylabel : str, default="training loss"
        Label of the loss axis (logarithmic when every value is positive).

    Returns
    -------
    Figure
    """
    if not curves:
        msg = "`curves` must name at least one setting. Received: curves={}"
        raise ValueError(msg)
    fig = _figure(7.5, 4.6)
    ax = fig.add_subplot()
    values = []
    for color, (name, losses) in zip(_fold_colors(len(curves)), curves.items(), strict=True):
        arr = np.asarray(losses, dtype=np.float64)
        arr = arr[:, None] if arr.ndim == 1 else arr
        epochs = np.arange(1, arr.shape[0] + 1)
        low, median, high = np.percentile(arr, [25, 50, 75], axis=1)
        ax.fill_between(epochs, low, high, color=color, alpha=0.2, lw=0)
        runs = f", median of {arr.shape[1]} seeds" if arr.shape[1] > 1 else ""
        ax.plot(
            epochs,
            median,
            color=color,
            lw=1.8,
            label=f"{name} (final {format_number(median[-1])}{runs})",
        )
        values.append(arr)
    if _use_log(np.concatenate([v.ravel() for v in values]), None):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Loss per epoch")
    ax.legend(
        loc="best",
        fontsize="small",
        title="bands: middle half of the seeds",
        title_fontsize="x-small",
    )
    ax.grid(True, which="major", alpha=0.3)
    return fig


def predicted_vs_true_by_fold(
    y_true: Any, y_pred: Any, folds: Any, *, label: str = "value", log: bool = False
) -> Figure:
    """Predicted against true values, one small panel per fold (each on its held-out rows).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted values in original units.
    folds : array-like of shape (n_samples,)
        The fold that predicted each row.
    label : str, default="value"
        Name and unit of the values.
    log : bool, default=False
        Logarithmic axes (non-positive values dropped).

    Returns
    -------
    Figure
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
    fig.suptitle(f"Predicted vs true {label.split(' (')[0]}, per fold (held-out rows)")
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


def _unit_of(label: str) -> str | None:
    """``"USD"`` from ``"price (USD)"``."""
    return label[label.rindex("(") + 1 : -1] if label.endswith(")") and "(" in label else None


def _money_ticks(ax: Axes, axis: str, label: str) -> None:
    """Tick labels such as ``$100k`` (log or linear axes) when the label's unit is a currency."""
    from matplotlib.ticker import FuncFormatter

    symbol = currency_symbol(_unit_of(label))
    target = ax.yaxis if axis == "y" else ax.xaxis
    scale = ax.get_yscale() if axis == "y" else ax.get_xscale()
    if symbol is None:
        _plain_ticks(ax, axis, compact=True)
        return

    def money(value: float, _pos: Any = None) -> str:
        sign = "-" if value < 0 else ""
        return f"{sign}{symbol}{_compact(abs(value))}"

    target.set_major_formatter(FuncFormatter(money))
    if scale == "log":
        target.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _plain_ticks(ax: Axes, axis: str = "y", *, compact: bool = False) -> None:
    """Readable large numbers on a linear axis: ``1,200,000`` (or ``1.2M``), never a ``1e6``."""
    from matplotlib.ticker import FuncFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    scale = ax.get_yscale() if axis == "y" else ax.get_xscale()
    low, high = ax.get_ylim() if axis == "y" else ax.get_xlim()
    if scale == "linear" and max(abs(low), abs(high)) >= 1e4:
        target.set_major_formatter(FuncFormatter(_compact if compact else "{:,.0f}".format))


def _compact(value: float, _pos: Any = None) -> str:
    """``250k``, ``1.2M``: short labels for ticks that would otherwise collide."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:g}{suffix}"
    return f"{value:g}"


def _extent(lo: float, hi: float, log: bool) -> tuple[float, float, float, float]:
    if log:
        lo, hi = np.log10(lo), np.log10(hi)
    return (lo, hi, lo, hi)


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


def _binned_median(
    key: np.ndarray, y: np.ndarray, levels: np.ndarray | None = None, bins: int = 25
) -> tuple[np.ndarray, np.ndarray]:
    """Median of ``y`` per distinct ``levels`` of ``key``, or in quantile bins of ``key``."""
    ok = np.isfinite(key) & np.isfinite(y)
    key, y = key[ok], y[ok]
    if levels is not None:
        medians = [np.median(y[key == v]) if np.any(key == v) else np.nan for v in levels]
        return levels, np.asarray(medians)
    if key.size < 20:
        return np.array([]), np.array([])
    edges = np.unique(np.quantile(key, np.linspace(0, 1, bins + 1)))
    if edges.size < 3:
        return np.array([]), np.array([])
    which = np.clip(np.searchsorted(edges, key, side="right") - 1, 0, edges.size - 2)
    centres, medians = [], []
    for b in range(edges.size - 1):
        sel = which == b
        if sel.any():
            centres.append(np.median(key[sel]))
            medians.append(np.median(y[sel]))
    return np.asarray(centres), np.asarray(medians)


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
    ax.legend(handles=handles, loc="best", fontsize="small")
    ax.grid(True, alpha=0.3)
    _money_ticks(ax, "y", _label(target, units))
    if categories is None and not temporal:
        _plain_ticks(ax, "x", compact=True)
    return fig


def _halo() -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=3.5, foreground="white")]


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


# --------------------------------------------------------------------------------------------
# data and importance


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
    fig = _figure(8.0, min(max(1.4 + 0.42 * n, 3.0), 30.0))
    ax = fig.add_subplot()
    ax.set_title(title or "Feature distributions before and after preprocessing")
    ax.set_xlabel("standardised value (std from the mean; log scale beyond ±3)")
    ax.set_ylabel("feature")
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
