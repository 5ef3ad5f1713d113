"""The sections of a class target's report: accuracy curves, confusion matrix, precision and
recall, calibration, predicted probabilities, the most confident mistakes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from nnforge import plots
from nnforge.report.html import _ID_NAMES, _esc, _note, _Report, html_table
from nnforge.report.reading import RunFiles, Section
from nnforge.report.sections import _r2, report_sections

__all__ = ["CLASSIFICATION_SECTIONS", "CLASSIFICATION_SECTION_LIST"]


def _metric_curves_section(report: _Report, run: RunFiles) -> None:
    if run.history is None:
        report.add("metrics", _note("history.csv not found in the run directory."))
        return
    history = run.history
    for metric in ("accuracy", "log_loss"):
        report.figure(
            "metrics",
            metric,
            lambda m=metric: plots.metric_curves(history, m),
            f"Validation {metric.replace('_', ' ')} per fold and epoch (held-out rows).",
        )


@dataclass(frozen=True)
class _Classes:
    """Out-of-fold class probabilities: true class index ``t``, probabilities ``p``."""

    predictions: pl.DataFrame
    target: str
    labels: list[Any]
    names: list[str]
    truth: pl.Series
    t: np.ndarray
    p: np.ndarray


def _classes(report: _Report, run: RunFiles, key: str) -> _Classes | None:
    """The class probabilities of the predictions, or None after a note in ``key``."""
    target, labels = run.summary.get("target"), run.summary.get("classes") or []
    proba_cols = [f"{target}_proba_{label}" for label in labels]
    predictions = run.predictions
    if not all(c in predictions.columns for c in proba_cols):
        report.add(key, _note(f"no class probabilities in {run.predictions_name}."))
        return None
    names = [str(v) for v in labels]
    truth = predictions.get_column(target).cast(pl.String)
    index = truth.replace_strict(names, list(range(len(names))), return_dtype=pl.Int64)
    p = predictions.select(proba_cols).to_numpy().astype(np.float64)
    return _Classes(predictions, str(target), labels, names, truth, index.to_numpy(), p)


def _confusion_section(report: _Report, run: RunFiles) -> None:
    from nnforge import metrics

    if (c := _classes(report, run, "confusion")) is None:
        return
    counts = metrics.confusion_matrix(c.t, c.p)
    report.figure(
        "confusion",
        "confusion_counts",
        lambda: plots.confusion_matrix(counts, c.labels),
        "Out-of-fold confusion matrix: rows are the true class, columns the predicted one.",
    )
    report.figure(
        "confusion",
        "confusion_normalized",
        lambda: plots.confusion_matrix(counts, c.labels, normalize=True),
        "The same, each row divided by its total (the diagonal is each class's recall).",
    )


def _per_class_section(report: _Report, run: RunFiles) -> None:
    from nnforge import metrics

    if (c := _classes(report, run, "per_class")) is None:
        return
    counts = metrics.confusion_matrix(c.t, c.p)
    precision, recall = metrics.precision_recall(c.t, c.p)
    rows = [
        {
            "class": name,
            "rows": int(counts[i].sum()),
            "predicted": int(counts[:, i].sum()),
            "precision": float(precision[i]),
            "recall": float(recall[i]),
        }
        for i, name in enumerate(c.names)
    ]
    formats = {"precision": _r2, "recall": _r2}
    columns = ["class", "rows", "predicted", "precision", "recall"]
    report.add("per_class", html_table(rows, columns, formats=formats))


def _calibration_section(report: _Report, run: RunFiles) -> None:
    if (c := _classes(report, run, "calibration")) is None:
        return
    if len(c.labels) != 2:
        report.add("calibration", _note("the calibration plot is drawn for 2 classes only."))
        return
    report.figure(
        "calibration",
        "calibration",
        lambda: plots.calibration_plot(c.t, c.p[:, 1], label=c.names[1]),
        f"Observed share of {c.names[1]} against the predicted probability, in 10 bins.",
    )


def _probabilities_section(report: _Report, run: RunFiles) -> None:
    if (c := _classes(report, run, "probabilities")) is None:
        return
    report.figure(
        "probabilities",
        "probabilities",
        lambda: plots.probability_histograms(c.t, c.p, c.labels),
        "Out-of-fold predicted probability of each class, for the rows of that class (red) and "
        "the others (blue).",
    )


def _mistakes_section(report: _Report, run: RunFiles) -> None:
    if (c := _classes(report, run, "worst")) is None:
        return
    true_p = c.p[np.arange(len(c.t)), c.t]
    wrong = c.predictions.with_columns(pl.Series("p_true_class", true_p)).filter(
        pl.col(f"{c.target}_pred").cast(pl.String) != c.truth
    )
    worst = wrong.sort("p_true_class").head(run.n_worst)
    first = [col for col in _ID_NAMES if col in worst.columns]
    first += [c.target, f"{c.target}_pred", "p_true_class"]
    rest = [col for col in worst.columns if col not in first][:10]
    caption = (
        f"{wrong.height} of {len(c.t)} rows are misclassified out of fold; the {worst.height} "
        "with the lowest predicted probability of their true class:"
    )
    table = html_table(worst.select(first + rest).to_dicts(), formats={"p_true_class": _r2})
    report.add("worst", f"<p>{_esc(caption)}</p>" + table)


#: The sections of a class target's report, in order.
CLASSIFICATION_SECTION_LIST: list[Section] = report_sections(
    [
        ("metrics", "Accuracy and log loss curves", _metric_curves_section),
        ("confusion", "Confusion matrix", _confusion_section),
        ("per_class", "Precision and recall per class", _per_class_section),
        ("calibration", "Calibration", _calibration_section),
        ("probabilities", "Predicted probabilities", _probabilities_section),
    ],
    ("worst", "Most confident mistakes", _mistakes_section),
)


CLASSIFICATION_SECTIONS: dict[str, str] = {k: title for k, title, _ in CLASSIFICATION_SECTION_LIST}
