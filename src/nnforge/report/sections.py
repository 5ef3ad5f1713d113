"""The sections of a report, shared by every target and those of a numeric target.

Each fills one section of a :class:`~nnforge.report.html._Report` from a
:class:`~nnforge.report.reading.RunFiles`; a figure that cannot be drawn becomes a note.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nnforge import plots
from nnforge._format import format_number, format_quantity
from nnforge.report.html import _ID_NAMES, _esc, _fmt, _key_values, _note, _Report, html_table
from nnforge.report.reading import (
    _LAT_NAMES,
    _LON_NAMES,
    RunFiles,
    Section,
    _find_column,
    _rank_features,
)

__all__ = ["REGRESSION_SECTIONS", "SECTIONS", "report_sections"]


def _link(run: RunFiles, name: str) -> str | None:
    """A relative link from the report to a file of the run directory, if it exists."""
    path = run.run_dir / name
    if not path.exists():
        return None
    href = Path(os.path.relpath(path, run.out.parent)).as_posix()
    return f'<a href="{_esc(href)}">{_esc(name)}</a>'


def _r2(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _metric(value: str, label: str, element_id: str = "") -> str:
    ident = f' id="{element_id}"' if element_id else ""
    return (
        f'<div class="metric"><span class="value"{ident}>{_esc(value)}</span>'
        f'<span class="label">{_esc(label)}</span></div>'
    )


def _answer_section(report: _Report, run: RunFiles) -> None:
    """Headline metrics in the target's units, the model and data in words, the baselines."""
    s = run.summary
    cards = _class_cards(run) if s.get("task") == "classification" else _regression_cards(run)
    if s.get("interrupted"):
        cards.append(_metric("interrupted", "the run holds the epochs that finished"))
    report.add("answer", f'<div class="headline">{"".join(cards)}</div>')
    n_inputs = s.get("n_inputs")
    sentence = run.model.sentence(n_inputs if isinstance(n_inputs, int) else None)
    report.add("answer", f"<p><b>Model:</b> {_esc(sentence)}.</p>")
    steps = "".join(
        f"<li>{_esc(kind)}: {_esc(_names(columns))}</li>"
        for kind, columns in run.model.dataset.steps()
    )
    rows = format_number(s.get("n_rows"))
    inputs = "" if n_inputs is None else f", {n_inputs} model inputs"
    report.add(
        "answer",
        f"<p><b>Data:</b> {rows} rows{inputs} → {_esc(run.target_label)}. "
        f"Preprocessing, in order:</p><ol>{steps}</ol>",
    )
    _baselines(report, run)
    links = [
        link
        for name in (
            "predictions.csv",
            "predictions.parquet",
            "history.csv",
            "evaluation.json",
            "spec.json",
            "models",
            "importance.csv",
            "log.txt",
        )
        if (link := _link(run, name))
    ]
    if links:
        report.add("answer", f"<p><b>Files:</b> {' · '.join(links)}</p>")


def _regression_cards(run: RunFiles) -> list[str]:
    """Out-of-fold R² on the target (with its unit), mean fold R² ± std, MAE."""
    s = run.summary
    k = s.get("k")
    folds = s.get("trainer") != "split" and k != 1
    where = "out-of-fold" if folds else "validation"
    cards = [
        _metric(_r2(s.get("oof_r2")), f"{where} R² on {run.target_label}", "headline-r2"),
        _metric(format_quantity(s.get("oof_mae"), run.unit), "mean absolute error"),
    ]
    if folds:
        std = s.get("std_fold_r2")
        spread = "" if std is None else f" ± {std:.4f}"
        label = f"mean fold R² ± std over {k} folds"
        cards.insert(1, _metric(f"{_r2(s.get('mean_fold_r2'))}{spread}", label))
    return cards


def _class_cards(run: RunFiles) -> list[str]:
    """Out-of-fold accuracy, balanced accuracy and log loss of a class target."""
    s = run.summary
    where = "validation" if s.get("trainer") == "split" or s.get("k") == 1 else "out-of-fold"
    return [
        _metric(
            _r2(s.get("oof_accuracy")),
            f"{where} accuracy on {run.target_label}",
            "headline-accuracy",
        ),
        _metric(_r2(s.get("oof_balanced_accuracy")), "balanced accuracy"),
        _metric(_r2(s.get("oof_log_loss")), "log loss"),
    ]


def _names(columns: list[str], shown: int = 8) -> str:
    if len(columns) <= shown:
        return ", ".join(columns)
    return f"{len(columns)} columns ({', '.join(columns[:shown])}, ...)"


def _baselines(report: _Report, run: RunFiles) -> None:
    baselines = run.summary.get("baselines")
    if not isinstance(baselines, Mapping):
        report.add("answer", _note("no baselines in evaluation.json (an older run)."))
        return
    rows = [
        {
            "model": "this network",
            "R²": run.summary.get("oof_r2"),
            "MAE": run.summary.get("oof_mae"),
        }
    ]
    names = {"linear": "linear model (least squares, same inputs)", "mean": "mean predictor"}
    for key, scores in baselines.items():
        if isinstance(scores, Mapping):
            rows.append(
                {"model": names.get(key, key), "R²": scores.get("r2"), "MAE": scores.get("mae")}
            )
    money = {"R²": _r2, "MAE": lambda v: format_quantity(v, run.unit)}
    report.add(
        "answer",
        "<p><b>Against baselines</b> fitted in the same folds on the same rows "
        "(out-of-fold):</p>" + html_table(rows, formats=money),
    )


def _summary_section(report: _Report, run: RunFiles) -> None:
    s = dict(run.summary)
    unit = run.unit
    shown: dict[str, Any] = {}
    labels: list[tuple[str, str, Callable[[Any], str]]] = [
        ("target", "target", lambda v: run.target_label),
        ("oof_r2", "out-of-fold R²", _r2),
        ("mean_fold_r2", "mean fold R²", _r2),
        ("std_fold_r2", "std of fold R²", _r2),
        ("best_fold", "best fold", str),
        ("best_fold_r2", "best fold R²", _r2),
        ("oof_mae", "out-of-fold MAE", lambda v: format_quantity(v, unit)),
        ("n_rows", "rows", lambda v: f"{v:,}"),
        ("n_predicted", "rows predicted", lambda v: f"{v:,}"),
        ("n_inputs", "model inputs", str),
        ("trainer", "trainer", str),
        ("k", "folds", str),
        ("epochs", "epochs", lambda v: f"{v:,}"),
        ("workers", "worker processes", str),
        ("wall_seconds", "wall time", lambda v: f"{v:,.1f} s"),
        ("diverged_folds", "diverged folds", lambda v: ", ".join(map(str, v)) or "none"),
        ("interrupted", "interrupted (Ctrl-C)", lambda v: "yes" if v else "no"),
    ]
    for key, label, show in labels:
        if s.get(key) is not None:
            shown[label] = show(s.pop(key))
    s.pop("baselines", None)  # shown with the answer
    shown.update({k: _fmt(v) for k, v in s.items()})  # keys this report does not know yet
    report.add("summary", _key_values(shown))
    if run.folds:
        formats: dict[str, Callable[[Any], str]] = {
            "r2": _r2,
            "mae": lambda v: format_quantity(v, unit),
            **{c: (lambda v: f"{v:,}") for c in ("n_train", "n_valid", "n_dropped", "n_monitor")},
        }
        report.add("summary", "<h3>Folds</h3>" + html_table(run.folds, formats=formats))


def _curves_sections(report: _Report, run: RunFiles) -> None:
    history = run.history
    if history is None:
        report.add("loss", _note("history.csv not found in the run directory."))
        return
    report.figure("loss", "loss", lambda: plots.loss_curves(history), _caption_loss(history))


def _caption_loss(history: pl.DataFrame) -> str:
    n_folds = history.get_column("fold").n_unique() if "fold" in history.columns else 1
    return (
        f"Training and validation loss per epoch on the preprocessed target; thin lines are the "
        f"{n_folds} folds, the band is the mean ± std across folds."
    )


def _r2_section(report: _Report, run: RunFiles) -> None:
    if run.history is None:
        report.add("r2", _note("history.csv not found in the run directory."))
        return
    history = run.history
    report.figure("r2", "r2", lambda: plots.r2_curves(history), "Validation R² per fold.")


@dataclass(frozen=True)
class _Rows:
    """Out-of-fold predictions of a numeric target: the rows, true ``t`` and predicted ``p``."""

    predictions: pl.DataFrame
    target: str
    t: np.ndarray
    p: np.ndarray

    @property
    def pred(self) -> str:
        return f"{self.target}_pred"

    @property
    def skewed(self) -> bool:
        """True values spanning more than a factor of 50: logarithmic axes."""
        finite = self.t[np.isfinite(self.t)]
        return finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() > 50


def _rows(report: _Report, run: RunFiles, key: str) -> _Rows | None:
    """The predictions and the target, or None after a note in section ``key`` saying why."""
    if run.target is None:
        report.add(key, _note(f"no `<target>_pred` column in {run.predictions_name}."))
        return None
    predictions, target = run.predictions, run.target
    t = predictions.get_column(target).cast(pl.Float64).to_numpy()
    p = predictions.get_column(f"{target}_pred").cast(pl.Float64).to_numpy()
    return _Rows(predictions, target, t, p)


def _predicted_section(report: _Report, run: RunFiles) -> None:
    if (rows := _rows(report, run, "predicted")) is None:
        return
    predictions, target, t, p = rows.predictions, rows.target, rows.t, rows.p
    label, skewed = run.target_label, rows.skewed
    report.figure(
        "predicted",
        "predicted_vs_true",
        lambda: plots.predicted_vs_true(t, p, log=skewed, label=label),
        f"Out-of-fold predicted against true {target}; the dashed line is a perfect prediction"
        + (f" (logarithmic axes: {target} spans more than a factor of 50)." if skewed else "."),
    )
    if "fold" in predictions.columns:
        folds = predictions.get_column("fold").to_numpy()
        if np.unique(folds).size > 1:
            report.figure(
                "predicted",
                "predicted_vs_true_by_fold",
                lambda: plots.predicted_vs_true_by_fold(t, p, folds, label=label, log=skewed),
                "The same for each fold on its own held-out rows (the seed's figures 10 and 22).",
            )


def _residuals_section(report: _Report, run: RunFiles) -> None:
    if (rows := _rows(report, run, "residuals")) is None:
        return
    t, p, label = rows.t, rows.p, run.target_label
    report.figure(
        "residuals",
        "residuals",
        lambda: plots.residuals(t, p, label=label, log=rows.skewed),
        "Residual (predicted - true) against the prediction; the black line is the median "
        "residual per bin: above zero the model over-predicts there, below it under-predicts.",
    )
    report.figure(
        "residuals",
        "error_histogram",
        lambda: plots.error_histogram(t, p, label=label),
        "How large the errors are: the grey band is ± the mean absolute error.",
    )
    report.figure(
        "residuals",
        "proportional_error",
        lambda: plots.proportional_error(t, p, label=label),
        "The errors relative to the true value (the seed's figure 6, 'proportional distance').",
    )


def _features_section(report: _Report, run: RunFiles) -> None:
    if (rows := _rows(report, run, "features")) is None:
        return
    predictions, target, pred, skewed = rows.predictions, rows.target, rows.pred, rows.skewed
    features = _rank_features(predictions, target, run.importance)[: run.max_feature_plots]
    if not features:
        report.add("features", _note("no numeric or date input columns in the predictions."))
        return
    for feature in features:
        after_map = " (values after the spec's mapping, as the model saw them)"
        report.figure(
            "features",
            f"by_{_slug(feature)}",
            lambda f=feature: plots.predictions_by_feature(
                predictions, f, target, pred, log=skewed, units=run.units
            ),
            f"True (red) and predicted (blue) {target} against {feature}"
            f"{after_map if feature in run.mapped else ''}, with the median of each.",
        )
    order = "importance" if run.importance is not None else "correlation with the target"
    report.add("features", _note(f"Features ordered by {order}; at most {run.max_feature_plots}."))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "feature"


def _map_section(report: _Report, run: RunFiles) -> None:
    if (rows := _rows(report, run, "map")) is None:
        return
    predictions, target = rows.predictions, rows.target
    lat, lon = _find_column(predictions, _LAT_NAMES), _find_column(predictions, _LON_NAMES)
    if not (lat and lon):
        report.add("map", _note("no latitude/longitude columns in the predictions."))
        return
    report.figure(
        "map",
        "map",
        lambda: plots.geo_map(
            predictions, lat, lon, target, rows.pred, log_color=rows.skewed, units=run.units
        ),
        f"True and predicted {target} by location, on a shared colour scale.",
    )


def _boxplots_section(report: _Report, run: RunFiles) -> None:
    before_after = run.before_after
    if isinstance(before_after, tuple):
        before, after = before_after
        report.figure(
            "boxplots",
            "boxplots",
            lambda: plots.feature_boxplots(before, after),
            "Every numeric feature before (red) and after (blue) preprocessing, each "
            "standardised for display.",
        )
    elif isinstance(before_after, str):
        report.add("boxplots", _note(f"Not available: {before_after}"))
    else:
        report.add(
            "boxplots",
            _note(f"Not available: no `<target>_pred` column in {run.predictions_name}."),
        )


def _importance_measure(metric: str) -> str:
    from nnforge.metrics import GREATER_IS_BETTER

    label = {"r2": "R²", "mae": "MAE", "roc_auc": "ROC AUC"}.get(metric, metric.replace("_", " "))
    return f"{label} {'drop' if GREATER_IS_BETTER.get(metric, True) else 'increase'}"


def _importance_section(report: _Report, run: RunFiles) -> None:
    importance, groups = run.importance, run.importance_groups
    measure = _importance_measure(run.summary.get("metric") or "r2")
    if importance is None:
        report.add(
            "importance",
            _note(
                "importance.csv not found in the run directory; "
                "run `nnforge importance RUN_DIR` to add this section."
            ),
        )
        return
    report.figure(
        "importance",
        "importance",
        lambda: plots.importance_bar(importance, measure=f"the {measure}"),
        f"Permutation importance: relative {measure} when each feature is shuffled; the error "
        "bars are the standard deviation across folds.",
    )
    if groups is not None:
        report.figure(
            "importance",
            "importance_groups",
            lambda: plots.importance_bar(
                groups, title="Permutation importance by source column", measure=f"the {measure}"
            ),
            "The same, shuffling every feature derived from one source column together.",
        )
    formats = {
        "importance": lambda v: f"{v:.4f}",
        "importance_std": lambda v: f"{v:.4f}",
        "relative": lambda v: f"{v:.1f} %",
    }
    report.add(
        "importance",
        "<h3>Importance table</h3>" + html_table(importance.to_dicts(), formats=formats),
    )


def _worst_section(report: _Report, run: RunFiles) -> None:
    if (rows := _rows(report, run, "worst")) is None:
        return
    predictions, target, pred = rows.predictions, rows.target, rows.pred
    err = (pl.col(pred).cast(pl.Float64) - pl.col(target).cast(pl.Float64)).alias("error")
    worst = (
        predictions.with_columns(err)
        .with_columns(
            pl.col("error").abs().alias("abs_error"),
            (100 * pl.col("error").abs() / pl.col(target).cast(pl.Float64).abs()).alias("error_%"),
        )
        .filter(pl.col("abs_error").is_not_nan() & pl.col("abs_error").is_not_null())
        .sort("abs_error", descending=True)
        .head(run.n_worst)
    )
    first = [c for c in _ID_NAMES if c in worst.columns]
    first += [target, pred, "error", "error_%"]
    rest = [c for c in worst.columns if c not in first and c != "abs_error"][:10]
    unit = run.unit
    caption = (
        f"The {worst.height} out-of-fold predictions with the largest absolute error"
        f"{f' (in {unit})' if unit else ''}; error = predicted - true. Click a heading to sort."
    )
    money = {c: (lambda v: format_quantity(v, unit)) for c in (target, pred, "error")}
    formats = {**money, "error_%": lambda v: f"{v:.1f} %"}
    table = html_table(worst.select(first + rest).to_dicts(), formats=formats)
    report.add("worst", f"<p>{_esc(caption)}</p>" + table)


def _spec_section(report: _Report, run: RunFiles) -> None:
    spec = run.spec
    n_inputs = run.summary.get("n_inputs")
    report.add(
        "spec", _key_values(run.model.describe(n_inputs if isinstance(n_inputs, int) else None))
    )
    layers = spec["layers"]
    rows = [
        {"layer": i} | {k: v for k, v in layer.items() if not isinstance(v, list | dict)}
        for i, layer in enumerate(layers)
    ]
    report.add("spec", f"<h3>Layers ({len(layers)})</h3>" + html_table(rows))
    pretty = json.dumps(spec, indent=2, sort_keys=False, default=str)
    report.add(
        "spec", f"<details><summary>Full spec.json</summary><pre>{_esc(pretty)}</pre></details>"
    )


# The sections of every kind of target.
ANSWER: Section = ("answer", "The answer", _answer_section)
SUMMARY: Section = ("summary", "Summary metrics", _summary_section)
LOSS: Section = ("loss", "Loss curves", _curves_sections)
BOXPLOTS: Section = (
    "boxplots",
    "Feature distributions before and after preprocessing",
    _boxplots_section,
)
IMPORTANCE: Section = ("importance", "Feature importance", _importance_section)
SPEC: Section = ("spec", "Specification", _spec_section)


def report_sections(own: list[Section], worst: Section) -> list[Section]:
    """A kind of target's sections in the frame every report shares: the answer, summary and
    loss first; the inputs, importance, the ``worst`` rows and the specification last."""
    return [ANSWER, SUMMARY, LOSS, *own, BOXPLOTS, IMPORTANCE, worst, SPEC]


#: The report's sections, in order; another kind of target can bring its own list.
REGRESSION_SECTIONS: list[Section] = report_sections(
    [
        ("r2", "R² curves", _r2_section),
        ("predicted", "Predicted vs true", _predicted_section),
        ("residuals", "Residuals and errors", _residuals_section),
        ("features", "Predictions by feature", _features_section),
        ("map", "Map", _map_section),
    ],
    ("worst", "Worst predictions", _worst_section),
)


#: Section anchors and headings, in report order.
SECTIONS: dict[str, str] = {key: title for key, title, _ in REGRESSION_SECTIONS}
