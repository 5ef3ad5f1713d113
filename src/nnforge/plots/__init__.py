"""Figures for training runs, predictions and importance: one public function per figure.

Every function takes plain Polars frames or NumPy arrays (never a run directory, so the functions
compose with any workflow) and returns a :class:`matplotlib.figure.Figure`. Figures are built on
the Agg canvas directly, without :mod:`matplotlib.pyplot`: importing this module never selects a
global backend nor opens a window, and figures are freed as soon as they are unreferenced.

Colours follow the seed report: true values in red, predictions in blue; training in blue,
validation in orange.

The modules: :mod:`~nnforge.plots.history` (training curves), :mod:`~nnforge.plots.regression`
(predictions against the truth), :mod:`~nnforge.plots.features` (predictions by feature and on
a map), :mod:`~nnforge.plots.classification` (a class target), :mod:`~nnforge.plots.inputs`
(feature distributions, importance, the XOR surface); ``_base`` holds what they share.

Examples
--------
>>> fig = loss_curves(pl.read_csv("runs/kc/history.csv"))  # doctest: +SKIP
>>> save_figure(fig, "runs/kc/plots/loss.png")  # doctest: +SKIP
"""

from __future__ import annotations

from nnforge.plots._base import (
    DPI,
    PRED_COLOR,
    TRAIN_COLOR,
    TRUE_COLOR,
    VALID_COLOR,
    figure_to_png,
    save_figure,
)
from nnforge.plots.classification import calibration_plot, confusion_matrix, probability_histograms
from nnforge.plots.features import geo_map, predictions_by_feature
from nnforge.plots.history import (
    compare_runs,
    loss_comparison,
    loss_curves,
    metric_curves,
    r2_curves,
)
from nnforge.plots.inputs import feature_boxplots, importance_bar, xor_surface
from nnforge.plots.regression import (
    error_histogram,
    predicted_vs_true,
    predicted_vs_true_by_fold,
    proportional_error,
    residuals,
)
from nnforge.plots.rendering import figures_to_png

__all__ = [
    "DPI",
    "PRED_COLOR",
    "TRAIN_COLOR",
    "TRUE_COLOR",
    "VALID_COLOR",
    "calibration_plot",
    "compare_runs",
    "confusion_matrix",
    "error_histogram",
    "feature_boxplots",
    "figure_to_png",
    "figures_to_png",
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
