"""What the report reads: a run loaded through :meth:`nnforge.training.Run.load`, plus the optional
files of ``nnforge importance``, shaped for the sections (:class:`RunFiles`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from nnforge._format import with_unit
from nnforge.report.html import _ID_NAMES, _Report

if TYPE_CHECKING:
    from nnforge.model import Model
    from nnforge.training import Run

__all__ = ["RunFiles", "Section", "read_run"]

_LAT_NAMES = ("lat", "latitude")
_LON_NAMES = ("long", "lon", "lng", "longitude")


@dataclass
class RunFiles:
    """What the report sections read: a loaded run and the optional files beside it."""

    run_dir: Path
    out: Path
    spec: dict[str, Any]  # spec.json as written: the run's Model.to_json()
    model: Model
    summary: dict[str, Any]
    folds: list[dict[str, Any]]
    history: pl.DataFrame | None  # None when the run has no history.csv
    predictions: pl.DataFrame
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
Section = tuple[str, str, Callable[[_Report, RunFiles], None]]


def read_run(
    run_dir: Path,
    out: Path,
    *,
    units: Mapping[str, str] | None = None,
    before_after: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    max_feature_plots: int = 6,
    n_worst: int = 20,
) -> RunFiles:
    """The sections' view of the run in ``run_dir``: predictions as the model saw them (dates
    parsed, mapped columns mapped), the units of its dataset, importance once computed.

    The run is read by :meth:`~nnforge.training.Run.load`: a damaged run raises its
    :class:`~nnforge.training.rundir.RunDirDamagedError`, naming the file.
    """
    import json

    from nnforge.data import derive
    from nnforge.datasets import units_of
    from nnforge.training import Run

    run = Run.load(run_dir)
    model, raw = run.model, run.predictions
    target = _find_target(raw, run.summary)
    derived = derive(model.dataset, raw.drop("fold", strict=False), cache=False)
    if before_after is None and target is not None:
        before_after = _before_after(run, raw, derived)
    predictions, mapped = _as_model_saw(raw, derived, model)
    history = run.evaluation.history_frame() if run.evaluation.history else None
    return RunFiles(
        run_dir=run_dir,
        out=out,
        spec=json.loads(model.to_json()),
        model=model,
        summary=dict(run.summary),
        folds=[fold.as_dict() for fold in run.evaluation.folds],
        history=history,
        predictions=predictions,
        predictions_name="predictions.parquet",
        target=target,
        units=dict(units if units is not None else units_of(model.dataset)),
        importance=_read_csv(run_dir / "importance.csv"),
        importance_groups=_read_csv(run_dir / "importance_groups.csv"),
        before_after=before_after,
        max_feature_plots=max_feature_plots,
        n_worst=n_worst,
        mapped=mapped,
    )


def _read_csv(path: Path) -> pl.DataFrame | None:
    """A table ``nnforge importance`` writes, or None before it has run."""
    if not path.is_file():
        return None
    return pl.read_csv(path, infer_schema_length=None, try_parse_dates=True)


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


def _before_after(
    run: Run, raw: pl.DataFrame, derived: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Original and preprocessed inputs of fold 0's pipeline: only what the model sees, the
    file's columns that are model inputs (raw, before log10 and scaling) against every model
    input after the pipeline (squares and extractions too)."""
    pipe = run.pipelines[0]
    after = pipe.transform(derived)
    model_columns = [*pipe.input_features_, *pipe.output_features_]
    before = raw.select([c for c in model_columns if c in raw.columns])
    return before, after.select([c for c in model_columns if c in after.columns])


def _as_model_saw(
    predictions: pl.DataFrame, derived: pl.DataFrame, model: Model
) -> tuple[pl.DataFrame, list[str]]:
    """Date columns parsed with the spec's format; mapped columns after their mapping (what the
    model saw before scaling), so plots show dates on a time axis and no "year 0"."""
    changes, mapped = [], []
    for name, feature in model.dataset.features.items():
        if name in predictions.columns and feature.date_format:
            if predictions.schema[name] == pl.String:
                changes.append(
                    pl.col(name).str.strptime(pl.Datetime, feature.date_format, strict=False)
                )
        elif name in predictions.columns and feature.mapped and not feature.log10:
            mapped.append(name)
    out = predictions.with_columns(changes) if changes else predictions
    if not mapped or derived.height != out.height:
        return out, []
    return out.with_columns(derived.get_column(m).alias(m) for m in mapped), mapped
