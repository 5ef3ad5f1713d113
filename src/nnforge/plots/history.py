"""Training curves from a long history (``fold, epoch, metric``): per-fold lines, mean ± std."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from nnforge._format import format_number
from nnforge.plots._base import (
    TRAIN_COLOR,
    VALID_COLOR,
    _axes,
    _figure,
    _fold_colors,
    _legend,
    _note,
    _require_columns,
    _use_log,
)

__all__ = ["compare_runs", "loss_comparison", "loss_curves", "metric_curves", "r2_curves"]


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
    fig, ax = _axes(
        (7.5, 4.6),
        title or "Validation R² per fold and epoch",
        "epoch",
        "validation R² (original units)",
    )
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
    fig, ax = _axes(
        (7.5, 4.6), title or f"{label[0].upper()}{label[1:]} per fold and epoch", "epoch", label
    )
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
    _legend(ax, fontsize="small", ncol=2 if len(folds) > 4 else 1)
    return fig


def _overlay(series: Mapping[str, Any], name: str, kind: str) -> tuple[Figure, Axes, list[Any]]:
    """A figure for one curve per entry of ``series`` (``name``), with a colour for each."""
    if not series:
        msg = f"`{name}` must name at least one {kind}. Received: {name}={{}}"
        raise ValueError(msg)
    fig = _figure(7.5, 4.6)
    return fig, fig.add_subplot(), _fold_colors(len(series))


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
    fig, ax, colors = _overlay(histories, "histories", "run")
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
        _legend(ax, fontsize="small")
    else:
        _note(ax, f"no run recorded `{metric}`")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{ylabel}, mean over folds")
    ax.set_title(title or f"Comparison of runs: {ylabel}")
    ax.grid(True, which="major", alpha=0.3)
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
    fig, ax, colors = _overlay(curves, "curves", "setting")
    values = []
    for color, (name, losses) in zip(colors, curves.items(), strict=True):
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
