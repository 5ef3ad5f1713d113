"""A self-contained HTML report of a run directory.

:func:`write_report` reads the files of the run directory contract (see ``docs/DESIGN.md``),
draws the figures of :mod:`nnforge.plots` and writes one ``report.html`` with every image embedded
as a base64 PNG, so the file can be mailed or opened offline. Optional inputs that are missing
(``importance.csv``, fitted pipelines, latitude/longitude columns) leave their section in place
with a short note saying what to do to fill it.

Examples
--------
>>> from nnforge.report import write_report
>>> write_report("runs/kc")  # doctest: +SKIP
PosixPath('runs/kc/report.html')
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from nnforge import __version__, plots
from nnforge._format import format_number
from nnforge._io import atomic_write_bytes, atomic_write_text
from nnforge.exceptions import NNForgeError

__all__ = [
    "CLASSIFICATION_SECTIONS",
    "GENERATOR",
    "SECTIONS",
    "html_figure",
    "html_page",
    "html_table",
    "write_report",
]

#: Section anchors and headings, in report order.
SECTIONS: dict[str, str] = {
    "spec": "Specification",
    "summary": "Summary metrics",
    "loss": "Loss curves",
    "r2": "R² curves",
    "predicted": "Predicted vs true",
    "features": "Predictions by feature",
    "map": "Map",
    "boxplots": "Feature distributions before and after preprocessing",
    "importance": "Feature importance",
    "worst": "Worst predictions",
}

#: The sections of a class target's report, in order.
CLASSIFICATION_SECTIONS: dict[str, str] = {
    "spec": "Specification",
    "summary": "Summary metrics",
    "loss": "Loss curves",
    "metrics": "Accuracy and log loss curves",
    "confusion": "Confusion matrix",
    "per_class": "Precision and recall per class",
    "calibration": "Calibration",
    "probabilities": "Predicted probabilities",
    "boxplots": "Feature distributions before and after preprocessing",
    "importance": "Feature importance",
    "worst": "Most confident mistakes",
}

# What bad data (not a bug) raises while a figure is drawn: reported as a note.
_DRAWING_ERRORS = (ValueError, TypeError, KeyError, IndexError, pl.exceptions.PolarsError)
# Marks a page as ours, so that `nnforge report --out FILE` may replace it (and nothing else).
GENERATOR = "nnforge"
_LAT_NAMES = ("lat", "latitude")
_LON_NAMES = ("long", "lon", "lng", "longitude")
_ID_NAMES = ("id", "row_id", "_id", "__id")
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1150px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.1em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
.meta{color:#666;font-size:.9em}.note{color:#666;font-style:italic}
table{border-collapse:collapse;font-size:.88em;margin:.6em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.text,th.text{text-align:left}
.scroll{overflow-x:auto}figure{margin:1em 0}img{max-width:100%;height:auto}
figcaption{color:#555;font-size:.88em}pre{background:#f7f7f7;padding:.8em;overflow:auto;
max-height:30em;font-size:.82em}nav ol{columns:2}
"""


# --------------------------------------------------------------------------------------------
# reading the run directory


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _read_table(run_dir: Path, stem: str) -> tuple[pl.DataFrame | None, str]:
    """``stem.parquet`` if present, else ``stem.csv``; returns the frame and the file name."""
    parquet, csv = run_dir / f"{stem}.parquet", run_dir / f"{stem}.csv"
    if parquet.is_file():
        return pl.read_parquet(parquet), parquet.name
    if csv.is_file():
        return pl.read_csv(csv, infer_schema_length=None, try_parse_dates=True), csv.name
    return None, f"{stem}.csv"


def _read_history(run_dir: Path) -> pl.DataFrame | None:
    frame, _ = _read_table(run_dir, "history")
    if frame is None:
        return None
    floats = ("train_loss", "val_loss", "val_loss_std", "r2", "mae", "lr")
    floats += ("accuracy", "balanced_accuracy", "log_loss", "roc_auc")
    return frame.with_columns(pl.col(c).cast(pl.Float64) for c in floats if c in frame.columns)


def _dataset_units(spec: Any) -> dict[str, str]:
    """The units nnforge knows for the run's dataset (by the name in its spec)."""
    from nnforge.datasets import units_of

    dataset = spec.get("dataset") if isinstance(spec, Mapping) else None
    return units_of(dataset.get("name") if isinstance(dataset, Mapping) else None)


def _find_target(predictions: pl.DataFrame, summary: Mapping[str, Any]) -> str | None:
    target = summary.get("target")
    if isinstance(target, list):
        target = target[0] if target else None
    if isinstance(target, str) and f"{target}_pred" in predictions.columns:
        return target
    for column in predictions.columns:
        if column.endswith("_pred") and column[: -len("_pred")] in predictions.columns:
            return column[: -len("_pred")]
    return None


def _find_column(frame: pl.DataFrame, names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in frame.columns}
    return next((lower[n] for n in names if n in lower), None)


def _input_columns(predictions: pl.DataFrame, target: str) -> list[str]:
    """Numeric or date columns of the original rows other than targets, folds and ids."""
    skip = {target, f"{target}_pred", "fold", *_ID_NAMES}
    return [
        c
        for c, d in predictions.schema.items()
        if c.lower() not in skip
        and c not in skip
        and not c.endswith("_pred")
        and (d.is_numeric() or d.is_temporal() or d == pl.Boolean)
    ]


def _rank_features(
    predictions: pl.DataFrame, target: str, importance: pl.DataFrame | None
) -> list[str]:
    """Input columns ordered by importance (by source column group) or by |correlation|."""
    columns = _input_columns(predictions, target)
    if importance is not None and "feature" in importance.columns:
        key = "group" if "group" in importance.columns else "feature"
        ranked = [str(g) for g in importance.get_column(key).to_list()]
        ordered = [c for c in dict.fromkeys(ranked) if c in columns]
        return ordered or columns  # model inputs only, not file columns the model never saw
    y = predictions.get_column(target).cast(pl.Float64).to_numpy()

    def strength(column: str) -> float:
        x = predictions.get_column(column)
        x = x.cast(pl.Int64) if x.dtype.is_temporal() else x
        xv = x.cast(pl.Float64).to_numpy()
        ok = np.isfinite(xv) & np.isfinite(y)
        if ok.sum() < 3 or np.std(xv[ok]) == 0 or np.std(y[ok]) == 0:
            return 0.0
        return abs(float(np.corrcoef(xv[ok], y[ok])[0, 1]))

    return sorted(columns, key=strength, reverse=True)


def _preprocessed(
    run_dir: Path, spec: Any, predictions: pl.DataFrame, target: str
) -> tuple[pl.DataFrame, pl.DataFrame] | str:
    """Original and preprocessed inputs through fold 0's pipeline, or why they are unavailable."""
    path = run_dir / "pipelines" / "fold_0.json"
    if not path.is_file():
        return "no fitted pipeline in `pipelines/fold_0.json`."
    try:
        from nnforge.data import DatasetSpec, Pipeline, derive

        pipe = Pipeline.from_json(path.read_text(encoding="utf-8"))
        rows = predictions.drop("fold", f"{target}_pred", strict=False)
        if isinstance(spec, Mapping) and "dataset" in spec:
            dataset = spec["dataset"]
            dataset = dataset if isinstance(dataset, str) else json.dumps(dataset)
            rows = derive(DatasetSpec.from_json(dataset), rows, cache=False)
        after = pipe.transform(rows)
    except (NNForgeError, pl.exceptions.PolarsError, ValueError, KeyError) as exc:
        # the stored rows may no longer fit the pipeline (edited files): degrade to a note
        return f"the stored pipeline could not be applied ({type(exc).__name__}: {exc})."
    # Only what the model sees: the file's columns that are model inputs (raw, before log10 and
    # scaling) against every model input after the pipeline (squares and extractions too).
    model_columns = [*pipe.input_features_, *pipe.output_features_]
    before = predictions.select([c for c in model_columns if c in predictions.columns])
    return before, after.select([c for c in model_columns if c in after.columns])


# --------------------------------------------------------------------------------------------
# HTML pieces


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def html_table(rows: list[Mapping[str, Any]], columns: list[str] | None = None) -> str:
    """A table of ``rows`` (dicts); numbers right-aligned and formatted, text left-aligned."""
    if not rows:
        return '<p class="note">(empty)</p>'
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    text_cols = {c for c in columns if any(isinstance(r.get(c), str | list | dict) for r in rows)}

    def cls(c: str) -> str:
        return ' class="text"' if c in text_cols else ""

    head = "".join(f"<th{cls(c)}>{_esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td{cls(c)}>{_esc(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _key_values(mapping: Mapping[str, Any]) -> str:
    rows = [{"name": k, "value": v} for k, v in mapping.items()]
    return html_table(rows, ["name", "value"]).replace("<td>", '<td class="text">')


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


class _Report:
    """Accumulates sections and images; optionally saves each figure as a PNG too."""

    def __init__(self, plots_dir: Path | None, headings: Mapping[str, str] = SECTIONS) -> None:
        self.headings = dict(headings)
        self.sections: dict[str, list[str]] = {key: [] for key in headings}
        self.plots_dir = plots_dir

    def add(self, section: str, fragment: str) -> None:
        self.sections[section].append(fragment)

    def figure(self, section: str, name: str, draw: Callable[[], Figure], caption: str) -> None:
        """Draw a figure and embed it; a failure becomes a note instead of aborting the report."""
        try:
            fig = draw()
        except _DRAWING_ERRORS as exc:  # bad data for one figure must not cost the report
            self.add(section, _note(f"{caption}: could not be drawn ({type(exc).__name__}: {exc})"))
            return
        png = plots.figure_to_png(fig)  # drawn once: the same bytes are embedded and saved
        if self.plots_dir is not None:
            atomic_write_bytes(self.plots_dir / f"{name}.png", png)
        self.add(section, html_figure(png, caption))

    def render(self, title: str, meta: str) -> str:
        nav = "".join(f'<li><a href="#{k}">{_esc(v)}</a></li>' for k, v in self.headings.items())
        body = "".join(
            f'<section id="{key}"><h2>{_esc(self.headings[key])}</h2>{"".join(parts)}</section>'
            for key, parts in self.sections.items()
        )
        return html_page(title, f"<nav><ol>{nav}</ol></nav>{body}", meta=meta)


def html_figure(png: bytes, caption: str) -> str:
    """A PNG embedded as a data URI, with its caption."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(caption)}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def html_page(title: str, body: str, *, meta: str = "") -> str:
    """A self-contained HTML page (inline style) around ``body``; ``meta`` is trusted HTML."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="{GENERATOR}">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{_esc(title)}</h1><p class="meta">{meta}</p>{body}</body></html>\n'
    )


# --------------------------------------------------------------------------------------------
# sections


def _spec_section(report: _Report, spec: Any) -> None:
    if spec is None:
        report.add("spec", _note("spec.json not found in the run directory."))
        return
    if isinstance(spec, Mapping):
        scalars = {
            k: v for k, v in spec.items() if isinstance(v, str | int | float | bool) or v is None
        }
        if scalars:
            report.add("spec", _key_values(scalars))
        dataset = spec.get("dataset")
        if isinstance(dataset, Mapping):
            brief = {
                k: (f"{len(v)} entries" if isinstance(v, list | dict) else v)
                for k, v in dataset.items()
            }
            report.add("spec", "<h3>Dataset</h3>" + _key_values(brief))
        elif dataset is not None:
            report.add("spec", f"<p>Dataset: <code>{_esc(dataset)}</code></p>")
        layers = spec.get("layers")
        if isinstance(layers, list) and layers:
            rows = [
                {"layer": i}
                | (
                    {k: v for k, v in layer.items() if not isinstance(v, list | dict)}
                    if isinstance(layer, Mapping)
                    else {"value": layer}
                )
                for i, layer in enumerate(layers)
            ]
            report.add("spec", f"<h3>Layers ({len(layers)})</h3>" + html_table(rows))
    pretty = json.dumps(spec, indent=2, sort_keys=False, default=str)
    report.add(
        "spec", f"<details><summary>Full spec.json</summary><pre>{_esc(pretty)}</pre></details>"
    )


def _summary_section(report: _Report, evaluation: Any) -> None:
    if not isinstance(evaluation, Mapping):
        report.add("summary", _note("evaluation.json not found in the run directory."))
        return
    summary = evaluation.get("summary")
    if isinstance(summary, Mapping):
        report.add("summary", _key_values(summary))
    folds = evaluation.get("folds")
    if isinstance(folds, list) and folds:
        rows = [f for f in folds if isinstance(f, Mapping)]
        report.add("summary", "<h3>Folds</h3>" + html_table(rows))


def _worst_section(
    report: _Report, predictions: pl.DataFrame, target: str, n_rows: int, units: Mapping[str, str]
) -> None:
    pred = f"{target}_pred"
    err = (pl.col(pred).cast(pl.Float64) - pl.col(target).cast(pl.Float64)).alias("error")
    worst = (
        predictions.with_columns(err)
        .with_columns(
            pl.col("error").abs().alias("abs_error"),
            (100 * pl.col("error").abs() / pl.col(target).cast(pl.Float64).abs()).alias("error_%"),
        )
        .filter(pl.col("abs_error").is_not_nan() & pl.col("abs_error").is_not_null())
        .sort("abs_error", descending=True)
        .head(n_rows)
    )
    first = [c for c in (*_ID_NAMES, "fold") if c in worst.columns]
    first += [target, pred, "error", "error_%"]
    rest = [c for c in worst.columns if c not in first and c != "abs_error"][:10]
    unit = units.get(target)
    caption = (
        f"The {worst.height} out-of-fold predictions with the largest absolute error"
        f"{f' (in {unit})' if unit else ''}; error = predicted - true."
    )
    report.add(
        "worst", f"<p>{_esc(caption)}</p>" + html_table(worst.select(first + rest).to_dicts())
    )


# --------------------------------------------------------------------------------------------
# public entry point


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    units: Mapping[str, str] | None = None,
    plots_dir: str | Path | None = None,
    max_feature_plots: int = 6,
    n_worst: int = 20,
    before_after: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> Path:
    """Write a self-contained ``report.html`` for a run directory.

    Parameters
    ----------
    run_dir : str or Path
        A run directory following the contract in ``docs/DESIGN.md``: ``spec.json``,
        ``evaluation.json``, ``history.csv``, ``predictions.parquet`` or ``predictions.csv``, and
        optionally ``importance.csv``, ``importance_groups.csv`` and ``pipelines/fold_0.json``.
    out : str or Path, optional
        Output file. Default: ``run_dir / "report.html"``.
    units : mapping of str to str, optional
        Column name to unit for axis labels. Default: the units nnforge knows for the run's
        dataset (:func:`nnforge.datasets.units_of` of the spec's dataset name), else none.
    plots_dir : str or Path, optional
        Also save every figure there as ``<name>.png``.
    max_feature_plots : int, default=6
        Number of per-feature prediction plots (most important or most correlated first).
    n_worst : int, default=20
        Rows in the worst-predictions table.
    before_after : tuple of two polars.DataFrame, optional
        Feature frames before and after preprocessing for the box plots. Default: the rows of the
        predictions passed through ``pipelines/fold_0.json`` when that pipeline can be loaded.

    Returns
    -------
    Path
        The written report.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` is not a directory.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        msg = f"run directory `{run_dir}` does not exist. Received: run_dir={str(run_dir)!r}"
        raise FileNotFoundError(msg)
    out = run_dir / "report.html" if out is None else Path(out)
    spec = _read_json(run_dir / "spec.json")
    units = dict(_dataset_units(spec) if units is None else units)
    evaluation = _read_json(run_dir / "evaluation.json")
    summary = evaluation.get("summary", {}) if isinstance(evaluation, Mapping) else {}
    classes = summary.get("task") == "classification"
    headings = CLASSIFICATION_SECTIONS if classes else SECTIONS
    report = _Report(None if plots_dir is None else Path(plots_dir), headings)
    history = _read_history(run_dir)
    predictions, predictions_name = _read_table(run_dir, "predictions")
    importance, _ = _read_table(run_dir, "importance")
    importance_groups, _ = _read_table(run_dir, "importance_groups")

    _spec_section(report, spec)
    _summary_section(report, evaluation)
    measure = _importance_measure(summary.get("metric") or "r2")

    if classes:
        _classification_sections(report, history, predictions, predictions_name, summary, n_worst)
    elif history is None:
        for key in ("loss", "r2"):
            report.add(key, _note("history.csv not found in the run directory."))
    else:
        report.figure("loss", "loss", lambda: plots.loss_curves(history), _caption_loss(history))
        report.figure("r2", "r2", lambda: plots.r2_curves(history), "Validation R² per fold.")

    target = None if predictions is None else _find_target(predictions, summary)
    if classes:
        pass
    elif predictions is None or target is None:
        why = (
            f"{predictions_name} not found in the run directory."
            if predictions is None
            else f"no `<target>_pred` column in {predictions_name}."
        )
        for key in ("predicted", "features", "map", "worst"):
            report.add(key, _note(why))
    else:
        _prediction_sections(report, predictions, target, importance, units, max_feature_plots)
        _worst_section(report, predictions, target, n_worst, units)

    if importance is None:
        report.add(
            "importance",
            _note(
                "importance.csv not found in the run directory; "
                "run `nnforge importance RUN_DIR` to add this section."
            ),
        )
    else:
        _importance_section(report, importance, importance_groups, measure)

    if before_after is None and predictions is not None and target is not None:
        before_after = _preprocessed(run_dir, spec, predictions, target)
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
        report.add("boxplots", _note(f"Not available: {predictions_name} is needed."))

    title = f"nnforge report: {run_dir.resolve().name}"
    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    meta = f"Run directory <code>{_esc(run_dir)}</code> · generated {stamp} · nnforge {__version__}"
    return atomic_write_text(out, report.render(title, meta))


def _caption_loss(history: pl.DataFrame) -> str:
    n_folds = history.get_column("fold").n_unique() if "fold" in history.columns else 1
    return (
        f"Training and validation loss per epoch on the preprocessed target; thin lines are the "
        f"{n_folds} folds, the band is the mean ± std across folds."
    )


def _prediction_sections(
    report: _Report,
    predictions: pl.DataFrame,
    target: str,
    importance: pl.DataFrame | None,
    units: Mapping[str, str],
    max_feature_plots: int,
) -> None:
    pred = f"{target}_pred"
    label = f"{target} ({units[target]})" if units.get(target) else target
    t = predictions.get_column(target).cast(pl.Float64).to_numpy()
    p = predictions.get_column(pred).cast(pl.Float64).to_numpy()
    finite = t[np.isfinite(t)]
    skewed = finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() > 50
    report.figure(
        "predicted",
        "predicted_vs_true",
        lambda: plots.predicted_vs_true(t, p, label=label),
        f"Out-of-fold predicted against true {target}; the dashed line is a perfect prediction.",
    )
    if skewed:
        report.figure(
            "predicted",
            "predicted_vs_true_log",
            lambda: plots.predicted_vs_true(t, p, log=True, label=label),
            f"The same on logarithmic axes ({target} spans more than a factor of 50).",
        )

    features = _rank_features(predictions, target, importance)[:max_feature_plots]
    if not features:
        report.add("features", _note("no numeric or date input columns in the predictions."))
    order = "importance" if importance is not None else "correlation with the target"
    for feature in features:
        report.figure(
            "features",
            f"by_{_slug(feature)}",
            lambda f=feature: plots.predictions_by_feature(
                predictions, f, target, pred, log=bool(skewed), units=units
            ),
            f"True (red) and predicted (blue) {target} against {feature}, with binned medians.",
        )
    if features:
        report.add("features", _note(f"Features ordered by {order}; at most {max_feature_plots}."))

    lat, lon = _find_column(predictions, _LAT_NAMES), _find_column(predictions, _LON_NAMES)
    if lat and lon:
        report.figure(
            "map",
            "map",
            lambda: plots.geo_map(
                predictions, lat, lon, target, pred, log_color=bool(skewed), units=units
            ),
            f"True and predicted {target} by location, on a shared colour scale.",
        )
    else:
        report.add("map", _note("no latitude/longitude columns in the predictions."))


def _importance_measure(metric: str) -> str:
    from nnforge.metrics import GREATER_IS_BETTER

    label = {"r2": "R²", "mae": "MAE", "roc_auc": "ROC AUC"}.get(metric, metric.replace("_", " "))
    return f"{label} {'drop' if GREATER_IS_BETTER.get(metric, True) else 'increase'}"


def _importance_section(
    report: _Report, importance: pl.DataFrame, groups: pl.DataFrame | None, measure: str
) -> None:
    report.figure(
        "importance",
        "importance",
        lambda: plots.importance_bar(importance, measure=f"the {measure}"),
        f"Permutation importance: relative {measure} when each feature is shuffled (± std).",
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
    report.add("importance", "<h3>Importance table</h3>" + html_table(importance.to_dicts()))


def _classification_sections(
    report: _Report,
    history: pl.DataFrame | None,
    predictions: pl.DataFrame | None,
    predictions_name: str,
    summary: Mapping[str, Any],
    n_worst: int,
) -> None:
    """Curves, confusion matrices, per-class precision/recall, calibration (2 classes),
    probability histograms and the most confident mistakes of a class target."""
    from nnforge import metrics

    if history is None:
        for key in ("loss", "metrics"):
            report.add(key, _note("history.csv not found in the run directory."))
    else:
        report.figure("loss", "loss", lambda: plots.loss_curves(history), _caption_loss(history))
        for metric in ("accuracy", "log_loss"):
            report.figure(
                "metrics",
                metric,
                lambda m=metric: plots.metric_curves(history, m),
                f"Validation {metric.replace('_', ' ')} per fold and epoch (held-out rows).",
            )
    target, labels = summary.get("target"), summary.get("classes") or []
    proba_cols = [f"{target}_proba_{label}" for label in labels]
    keys = ("confusion", "per_class", "calibration", "probabilities", "worst")
    if predictions is None or not all(c in predictions.columns for c in proba_cols):
        for key in keys:
            report.add(key, _note(f"no class probabilities in {predictions_name}."))
        return
    names = [str(v) for v in labels]
    truth = predictions.get_column(target).cast(pl.String)
    index = truth.replace_strict(names, list(range(len(names))), return_dtype=pl.Int64)
    t = index.to_numpy()
    p = predictions.select(proba_cols).to_numpy().astype(np.float64)
    counts = metrics.confusion_matrix(t, p)
    report.figure(
        "confusion",
        "confusion_counts",
        lambda: plots.confusion_matrix(counts, labels),
        "Out-of-fold confusion matrix: rows are the true class, columns the predicted one.",
    )
    report.figure(
        "confusion",
        "confusion_normalized",
        lambda: plots.confusion_matrix(counts, labels, normalize=True),
        "The same, each row divided by its total (the diagonal is each class's recall).",
    )
    precision, recall = metrics.precision_recall(t, p)
    rows = [
        {
            "class": name,
            "rows": int(counts[i].sum()),
            "predicted": int(counts[:, i].sum()),
            "precision": float(precision[i]),
            "recall": float(recall[i]),
        }
        for i, name in enumerate(names)
    ]
    report.add("per_class", html_table(rows, ["class", "rows", "predicted", "precision", "recall"]))
    if len(labels) == 2:
        report.figure(
            "calibration",
            "calibration",
            lambda: plots.calibration_plot(t, p[:, 1], label=names[1]),
            f"Observed share of {names[1]} against the predicted probability, in 10 bins.",
        )
    else:
        report.add("calibration", _note("the calibration plot is drawn for 2 classes only."))
    report.figure(
        "probabilities",
        "probabilities",
        lambda: plots.probability_histograms(t, p, labels),
        "Out-of-fold predicted probability of each class, for the rows of that class (red) and "
        "the others (blue).",
    )
    true_p = p[np.arange(len(t)), t]
    wrong = predictions.with_columns(pl.Series("p_true_class", true_p)).filter(
        pl.col(f"{target}_pred").cast(pl.String) != truth
    )
    worst = wrong.sort("p_true_class").head(n_worst)
    first = [c for c in (*_ID_NAMES, "fold") if c in worst.columns]
    first += [target, f"{target}_pred", "p_true_class"]
    rest = [c for c in worst.columns if c not in first][:10]
    caption = (
        f"{wrong.height} of {len(t)} rows are misclassified out of fold; the {worst.height} with "
        f"the lowest predicted probability of their true class:"
    )
    report.add(
        "worst", f"<p>{_esc(caption)}</p>" + html_table(worst.select(first + rest).to_dicts())
    )


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "feature"
