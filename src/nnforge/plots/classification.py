"""Figures of a class target: confusion matrix, calibration, predicted probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from nnforge.plots._base import (
    PRED_COLOR,
    TRUE_COLOR,
    _figure,
    _vector,
)

__all__ = ["calibration_plot", "confusion_matrix", "probability_histograms"]


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
