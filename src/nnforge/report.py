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
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from nnforge import __version__, plots
from nnforge._format import format_number, format_quantity, with_unit
from nnforge._io import atomic_write_bytes, atomic_write_text
from nnforge.exceptions import NNForgeError

__all__ = [
    "CLASSIFICATION_SECTIONS",
    "CLASSIFICATION_SECTION_LIST",
    "GENERATOR",
    "REGRESSION_SECTIONS",
    "SECTIONS",
    "RunFiles",
    "Section",
    "html_figure",
    "html_page",
    "html_table",
    "write_report",
]

# What bad data (not a bug) raises while a figure is drawn: reported as a note.
_DRAWING_ERRORS = (ValueError, TypeError, KeyError, IndexError, pl.exceptions.PolarsError)
# Marks a page as ours, so that `nnforge report --out FILE` may replace it (and nothing else).
GENERATOR = "nnforge"
_LAT_NAMES = ("lat", "latitude")
_LON_NAMES = ("long", "lon", "lng", "longitude")
_ID_NAMES = ("id", "row_id", "_id", "__id", "row", "fold")
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1150px;margin:1.2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{margin:0 0 .1em;font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:2em}.meta{color:#666;font-size:.85em;margin-top:0}.note{color:#666;font-style:italic}
table{border-collapse:collapse;font-size:.88em;margin:.6em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.text,th.text{text-align:left}table.sortable th{cursor:pointer}
table.sortable th:after{content:" \\2195";color:#aaa;font-size:.8em}
.scroll{overflow-x:auto}figure{margin:1em 0}img{max-width:100%;height:auto}
figcaption{color:#555;font-size:.88em}pre{background:#f7f7f7;padding:.8em;overflow:auto;
max-height:30em;font-size:.82em}nav ol{columns:3;font-size:.9em}
.headline{display:flex;flex-wrap:wrap;gap:.8em;margin:.6em 0}
.metric{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;min-width:12em}
.metric .value{display:block;font-size:1.9em;font-weight:600}
.metric .label{color:#555;font-size:.85em}section#answer h2{margin-top:1em}
"""
# Click a column heading to sort (numbers by their value, text alphabetically); no library.
_SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function(th){
th.addEventListener('click',function(){var body=th.closest('table').tBodies[0];
var i=Array.prototype.indexOf.call(th.parentNode.children,th),up=th.dataset.dir!=='up';
th.dataset.dir=up?'up':'down';var rows=Array.from(body.rows);rows.sort(function(a,b){
var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v,d=(x!==undefined&&y!==undefined)?
parseFloat(x)-parseFloat(y):a.cells[i].textContent.localeCompare(b.cells[i].textContent);
return up?d:-d;});rows.forEach(function(r){body.appendChild(r);});});});
"""


@dataclass
class RunFiles:
    """What the report sections read: a run directory's files, each possibly missing."""

    run_dir: Path
    out: Path
    spec: Any
    model: Any  # nnforge.model.Model when spec.json validates, else None
    summary: dict[str, Any]
    folds: list[dict[str, Any]]
    history: pl.DataFrame | None
    predictions: pl.DataFrame | None
    predictions_name: str
    target: str | None
    units: dict[str, str]
    importance: pl.DataFrame | None
    importance_groups: pl.DataFrame | None
    before_after: tuple[pl.DataFrame, pl.DataFrame] | str | None
    max_feature_plots: int = 6
    n_worst: int = 20
    mapped: list[str] = field(default_factory=list)  # features shown after their mapping

    @property
    def unit(self) -> str | None:
        """The target's unit."""
        return self.units.get(self.target or "")

    @property
    def target_label(self) -> str:
        return with_unit(self.target or "target", self.unit)


#: A section: anchor, heading and the function that fills it.
Section = tuple[str, str, Callable[["_Report", RunFiles], None]]

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
    """The units of the run's dataset: declared in its spec, or known for its name."""
    from nnforge.data import DatasetSpec
    from nnforge.datasets import units_of

    if isinstance(spec, DatasetSpec):
        return units_of(spec)
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
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value) or "none"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


Formats = Mapping[str, Callable[[Any], str]]


def _default_format(column: str) -> Callable[[Any], str] | None:
    """Ids and folds are labels, never ``7,129,300,520``."""
    if column.lower() in _ID_NAMES or column.lower().endswith("_id"):
        return lambda v: "" if v is None else str(v)
    return None


def html_table(
    rows: list[Mapping[str, Any]], columns: list[str] | None = None, formats: Formats | None = None
) -> str:
    """A sortable table of ``rows`` (dicts): numbers right-aligned, text left-aligned.

    ``formats`` maps a column to a function giving its text (fixed precision per column, units);
    other numbers go through :func:`nnforge._format.format_number`, ids as they are. Numeric
    cells carry their value for sorting (click a heading).
    """
    if not rows:
        return '<p class="note">(empty)</p>'
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    text_cols = {
        c for c in columns if any(isinstance(r.get(c), str | list | dict | dt.date) for r in rows)
    }
    show = {c: (formats or {}).get(c) or _default_format(c) or _fmt for c in columns}

    def cls(c: str) -> str:
        return ' class="text"' if c in text_cols else ""

    def cell(c: str, value: Any) -> str:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        sort = f' data-v="{value!r}"' if number and math.isfinite(value) else ""
        return f"<td{cls(c)}{sort}>{_esc(show[c](value) if value is not None else '')}</td>"

    head = "".join(f"<th{cls(c)}>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(c, r.get(c)) for c in columns) + "</tr>" for r in rows)
    table = f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


def _key_values(pairs: Mapping[str, Any]) -> str:
    body = "".join(
        f'<tr><th class="text">{_esc(k)}</th><td class="text">{_esc(_fmt(v))}</td></tr>'
        for k, v in pairs.items()
    )
    return f'<div class="scroll"><table><tbody>{body}</tbody></table></div>'


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


class _Report:
    """Accumulates sections and images; optionally saves each figure as a PNG too."""

    def __init__(self, sections: list[Section], plots_dir: Path | None) -> None:
        self.headings = {key: title for key, title, _ in sections}
        self.sections: dict[str, list[str]] = {key: [] for key in self.headings}
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
        first, *rest = body.split("</section>", 1)  # the answer first, then the contents
        return html_page(
            title, f"{first}</section><nav><ol>{nav}</ol></nav>{''.join(rest)}", meta=meta
        )


def html_figure(png: bytes, caption: str) -> str:
    """A PNG embedded as a data URI, with its caption."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(caption)}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def html_page(title: str, body: str, *, meta: str = "") -> str:
    """A self-contained HTML page (inline style and sort script) around ``body``; ``meta`` is
    trusted HTML."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="{GENERATOR}">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{_esc(title)}</h1><p class="meta">{meta}</p>{body}'
        f"<script>{_SORT_SCRIPT}</script></body></html>\n"
    )


def _link(run: RunFiles, name: str) -> str | None:
    """A relative link from the report to a file of the run directory, if it exists."""
    path = run.run_dir / name
    if not path.exists():
        return None
    href = Path(os.path.relpath(path, run.out.parent)).as_posix()
    return f'<a href="{_esc(href)}">{_esc(name)}</a>'


# --------------------------------------------------------------------------------------------
# sections


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
    if not s:
        report.add("answer", _note("evaluation.json not found in the run directory."))
    else:
        cards = _class_cards(run) if s.get("task") == "classification" else _regression_cards(run)
        if s.get("interrupted"):
            cards.append(_metric("interrupted", "the run holds the epochs that finished"))
        report.add("answer", f'<div class="headline">{"".join(cards)}</div>')
    n_inputs = s.get("n_inputs")
    if run.model is not None:
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
    elif run.spec is not None:
        report.add("answer", _note("spec.json does not validate: no model description."))
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
        if run.summary:
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
    if not s and not run.folds:
        report.add("summary", _note("evaluation.json not found in the run directory."))
        return
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


def _r2_section(report: _Report, run: RunFiles) -> None:
    if run.history is None:
        report.add("r2", _note("history.csv not found in the run directory."))
        return
    history = run.history
    report.figure("r2", "r2", lambda: plots.r2_curves(history), "Validation R² per fold.")


def _rows(report: _Report, run: RunFiles, key: str) -> tuple[pl.DataFrame, str] | None:
    """The predictions and the target, or None after a note in section ``key`` saying why."""
    if run.predictions is None:
        report.add(key, _note(f"{run.predictions_name} not found in the run directory."))
        return None
    if run.target is None:
        report.add(key, _note(f"no `<target>_pred` column in {run.predictions_name}."))
        return None
    return run.predictions, run.target


def _skewed(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() > 50


def _truth_and_pred(predictions: pl.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    t = predictions.get_column(target).cast(pl.Float64).to_numpy()
    p = predictions.get_column(f"{target}_pred").cast(pl.Float64).to_numpy()
    return t, p


def _predicted_section(report: _Report, run: RunFiles) -> None:
    if (rows := _rows(report, run, "predicted")) is None:
        return
    predictions, target = rows
    t, p = _truth_and_pred(predictions, target)
    label = run.target_label
    skewed = _skewed(t)
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
    predictions, target = rows
    t, p = _truth_and_pred(predictions, target)
    label = run.target_label
    report.figure(
        "residuals",
        "residuals",
        lambda: plots.residuals(t, p, label=label, log=_skewed(t)),
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
    predictions, target = rows
    pred = f"{target}_pred"
    skewed = _skewed(_truth_and_pred(predictions, target)[0])
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


def _map_section(report: _Report, run: RunFiles) -> None:
    if (rows := _rows(report, run, "map")) is None:
        return
    predictions, target = rows
    lat, lon = _find_column(predictions, _LAT_NAMES), _find_column(predictions, _LON_NAMES)
    if not (lat and lon):
        report.add("map", _note("no latitude/longitude columns in the predictions."))
        return
    skewed = _skewed(_truth_and_pred(predictions, target)[0])
    report.figure(
        "map",
        "map",
        lambda: plots.geo_map(
            predictions, lat, lon, target, f"{target}_pred", log_color=skewed, units=run.units
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
        report.add("boxplots", _note(f"Not available: {run.predictions_name} is needed."))


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
    predictions, target = rows
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
    if spec is None:
        report.add("spec", _note("spec.json not found in the run directory."))
        return
    if run.model is not None:
        n_inputs = run.summary.get("n_inputs")
        report.add(
            "spec", _key_values(run.model.describe(n_inputs if isinstance(n_inputs, int) else None))
        )
    if isinstance(spec, Mapping):
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


# -- a class target (issue 13) ----------------------------------------------------------------


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
    if predictions is None or not all(c in predictions.columns for c in proba_cols):
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


#: The report's sections, in order; another kind of target can bring its own list.
REGRESSION_SECTIONS: list[Section] = [
    ("answer", "The answer", _answer_section),
    ("summary", "Summary metrics", _summary_section),
    ("loss", "Loss curves", _curves_sections),
    ("r2", "R² curves", _r2_section),
    ("predicted", "Predicted vs true", _predicted_section),
    ("residuals", "Residuals and errors", _residuals_section),
    ("features", "Predictions by feature", _features_section),
    ("map", "Map", _map_section),
    ("boxplots", "Feature distributions before and after preprocessing", _boxplots_section),
    ("importance", "Feature importance", _importance_section),
    ("worst", "Worst predictions", _worst_section),
    ("spec", "Specification", _spec_section),
]

#: Section anchors and headings, in report order.
SECTIONS: dict[str, str] = {key: title for key, title, _ in REGRESSION_SECTIONS}

#: The sections of a class target's report, in order.
CLASSIFICATION_SECTION_LIST: list[Section] = [
    ("answer", "The answer", _answer_section),
    ("summary", "Summary metrics", _summary_section),
    ("loss", "Loss curves", _curves_sections),
    ("metrics", "Accuracy and log loss curves", _metric_curves_section),
    ("confusion", "Confusion matrix", _confusion_section),
    ("per_class", "Precision and recall per class", _per_class_section),
    ("calibration", "Calibration", _calibration_section),
    ("probabilities", "Predicted probabilities", _probabilities_section),
    ("boxplots", "Feature distributions before and after preprocessing", _boxplots_section),
    ("importance", "Feature importance", _importance_section),
    ("worst", "Most confident mistakes", _mistakes_section),
    ("spec", "Specification", _spec_section),
]
CLASSIFICATION_SECTIONS: dict[str, str] = {k: title for k, title, _ in CLASSIFICATION_SECTION_LIST}


# --------------------------------------------------------------------------------------------
# public entry point


def _load_model(spec: Any) -> Any:
    """The validated :class:`~nnforge.model.Model` of ``spec.json``, or None."""
    from nnforge.exceptions import SpecError
    from nnforge.model import Model

    if not isinstance(spec, Mapping):
        return None
    try:
        return Model.from_json(json.dumps(spec))
    except SpecError:
        return None


def _as_model_saw(predictions: pl.DataFrame, model: Any) -> tuple[pl.DataFrame, list[str]]:
    """Date columns parsed with the spec's format; mapped columns after their mapping (what the
    model saw before scaling), so plots show dates on a time axis and no "year 0"."""
    if model is None:
        return predictions, []
    from nnforge.data import derive

    dataset = model.dataset
    changes, mapped = [], []
    for name, feature in dataset.features.items():
        if name in predictions.columns and feature.date_format:
            if predictions.schema[name] == pl.String:
                changes.append(
                    pl.col(name).str.strptime(pl.Datetime, feature.date_format, strict=False)
                )
        elif name in predictions.columns and feature.mapped and not feature.log10:
            mapped.append(name)
    out = predictions.with_columns(changes) if changes else predictions
    if mapped:
        try:
            derived = derive(dataset, predictions.drop("fold", strict=False), cache=False)
        except (NNForgeError, pl.exceptions.PolarsError, ValueError, KeyError):
            return out, []
        if derived.height != out.height:
            return out, []
        out = out.with_columns(derived.get_column(m).alias(m) for m in mapped)
    return out, mapped


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    units: Mapping[str, str] | None = None,
    plots_dir: str | Path | None = None,
    max_feature_plots: int = 6,
    n_worst: int = 20,
    before_after: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    sections: list[Section] | None = None,
) -> Path:
    """Write a self-contained ``report.html`` for a run directory, leading with the answer.

    Parameters
    ----------
    run_dir : str or Path
        A run directory following the contract in ``docs/DESIGN.md``: ``spec.json``,
        ``evaluation.json``, ``history.csv``, ``predictions.parquet`` or ``predictions.csv``, and
        optionally ``importance.csv``, ``importance_groups.csv`` and ``pipelines/fold_0.json``.
    out : str or Path, optional
        Output file. Default: ``run_dir / "report.html"``.
    units : mapping of str to str, optional
        Column name to unit. Default: the units of the run's dataset spec
        (:func:`nnforge.datasets.units_of`), else none.
    plots_dir : str or Path, optional
        Also save every figure there as ``<name>.png``.
    max_feature_plots : int, default=6
        Number of per-feature prediction plots (most important or most correlated first).
    n_worst : int, default=20
        Rows in the worst-predictions table.
    before_after : tuple of two polars.DataFrame, optional
        Feature frames before and after preprocessing for the box plots. Default: the rows of the
        predictions passed through ``pipelines/fold_0.json`` when that pipeline can be loaded.
    sections : list of Section, optional
        The sections in order. Default: :data:`REGRESSION_SECTIONS`.

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
    model = _load_model(spec)
    evaluation = _read_json(run_dir / "evaluation.json")
    evaluation = evaluation if isinstance(evaluation, Mapping) else {}
    summary = evaluation.get("summary")
    if sections is None:  # the sections for the run's kind of target
        classes = isinstance(summary, Mapping) and summary.get("task") == "classification"
        sections = CLASSIFICATION_SECTION_LIST if classes else REGRESSION_SECTIONS
    report = _Report(sections, None if plots_dir is None else Path(plots_dir))
    folds = evaluation.get("folds")
    raw, predictions_name = _read_table(run_dir, "predictions")
    target = None if raw is None else _find_target(raw, summary or {})
    if before_after is None and raw is not None and target is not None:
        before_after = _preprocessed(run_dir, spec, raw, target)
    predictions, mapped = (None, []) if raw is None else _as_model_saw(raw, model)
    run = RunFiles(
        run_dir=run_dir,
        out=out,
        spec=spec,
        model=model,
        summary=dict(summary) if isinstance(summary, Mapping) else {},
        folds=[f for f in folds if isinstance(f, Mapping)] if isinstance(folds, list) else [],
        history=_read_history(run_dir),
        predictions=predictions,
        predictions_name=predictions_name,
        target=target,
        units=dict(
            units if units is not None else _dataset_units(model.dataset if model else spec)
        ),
        importance=_read_table(run_dir, "importance")[0],
        importance_groups=_read_table(run_dir, "importance_groups")[0],
        before_after=before_after,
        max_feature_plots=max_feature_plots,
        n_worst=n_worst,
        mapped=mapped,
    )
    for _, _, fill in sections:
        fill(report, run)

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


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "feature"
