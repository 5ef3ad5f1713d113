"""What the folds' results add up to: the held-out prediction columns, the out-of-fold
predictions joined to the file's rows, and the run's summary (regression or classification).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from nnforge.data import Pipeline
from nnforge.data.targets import predicted_labels, probability_columns
from nnforge.metrics import GREATER_IS_BETTER, mean_absolute_error, r2_score, scores
from nnforge.model import Model
from nnforge.training.evaluation import FoldResult

if TYPE_CHECKING:
    from nnforge.training.trainers import FoldData

__all__ = [
    "classification_summary",
    "join_predictions",
    "prediction_columns",
    "regression_summary",
]


def prediction_columns(model: Model, pipeline: Pipeline, pred: np.ndarray) -> dict[str, Any]:
    """Held-out prediction columns: ``<target>_pred`` per output, or for a class target the
    predicted label and one probability column per class."""
    if model.task != "classification":
        return {f"{name}_pred": pred[:, j] for j, name in enumerate(pipeline.output_features_)}
    target = model.dataset.class_target
    labels = model.dataset.features[target].classes.labels  # typed as in the file
    cols: dict[str, Any] = {f"{target}_pred": predicted_labels(pred, labels)}
    for j, name in enumerate(probability_columns(target, pipeline.class_labels_)):
        cols[name] = pred[:, j]
    return cols


def classification_summary(
    model: Model, folds: Sequence[FoldData], results, y_true, y_pred
) -> dict[str, Any]:
    """Out-of-fold and per-fold accuracy, balanced accuracy, log loss (and ROC AUC for 2
    classes); the best fold by the spec's metric."""
    target = model.dataset.class_target
    metric = model.selection_metric
    summary: dict[str, Any] = {
        "task": "classification",
        "target": target,
        "classes": model.dataset.features[target].classes.labels,
        "metric": metric,
        "trainer": model.trainer.name,
        "k": len(folds),
        "epochs": model.epochs,
    }
    oof = scores("classification", np.concatenate(y_true), np.concatenate(y_pred)) if y_true else {}
    names = ["accuracy", "balanced_accuracy", "log_loss"]
    if len(summary["classes"]) == 2:
        names.append("roc_auc")
    for name in names:
        summary[f"oof_{name}"] = oof.get(name)
        values = [r.score(name) for r in results if r.score(name) is not None]
        summary[f"mean_fold_{name}"] = float(np.mean(values)) if values else None
        summary[f"std_fold_{name}"] = float(np.std(values)) if values else None
    scored = [r for r in results if r.score(metric) is not None]
    sign = 1.0 if GREATER_IS_BETTER[metric] else -1.0
    best = max(scored, key=lambda r: sign * r.score(metric)).fold if scored else None
    summary["best_fold"] = best
    summary[f"best_fold_{metric}"] = None if best is None else results[best].score(metric)
    summary["diverged_folds"] = [r.fold for r in results if r.stopped == "diverged"]
    summary["interrupted"] = any(r.stopped == "interrupted" for r in results)
    return summary


def regression_summary(
    model: Model,
    folds: Sequence[FoldData],
    results: Sequence[FoldResult],
    y_true: list[np.ndarray],
    y_pred: list[np.ndarray],
    *,
    n_rows: int,
    n_inputs: int,
    n_predicted: int,
    baselines: dict[str, Any] | None,
) -> dict[str, Any]:
    """Out-of-fold R² and MAE (of the folds that did not diverge), the folds' R², the best
    fold, and the baselines' scores on the same folds."""
    target = folds[0].pipeline.output_features_
    scored = [r for r in results if r.r2 is not None]
    best = max(scored, key=lambda r: r.r2).fold if scored else None
    fold_r2 = np.array([r.r2 for r in scored]) if scored else np.array([np.nan])
    return {
        "target": target[0] if len(target) == 1 else target,
        "trainer": model.trainer.name,
        "k": len(folds),
        "epochs": model.epochs,
        "n_rows": n_rows,
        "n_inputs": n_inputs,
        "n_predicted": n_predicted,
        "oof_r2": float(r2_score(np.concatenate(y_true), np.concatenate(y_pred)))
        if y_true
        else None,
        "oof_mae": float(mean_absolute_error(np.concatenate(y_true), np.concatenate(y_pred)))
        if y_true
        else None,
        "mean_fold_r2": float(np.mean(fold_r2)),
        "std_fold_r2": float(np.std(fold_r2)),
        "best_fold": best,
        "best_fold_r2": float(np.max(fold_r2)) if scored else None,
        "diverged_folds": [r.fold for r in results if r.stopped == "diverged"],
        "interrupted": any(r.stopped == "interrupted" for r in results),
        "baselines": baselines,
    }


def join_predictions(source: pl.DataFrame, oof: pl.DataFrame, id_col: str) -> pl.DataFrame:
    """The original rows (as read) with their out-of-fold predictions, in file order.

    When the id is a column of the file it is the join key. Otherwise ``derive`` attached 1-based
    row numbers; they are joined as a ``row`` column so the file's own columns (which may include
    a non-unique ``id``, as King County's) are kept unchanged. When every row has a prediction
    (the usual case), the file's columns are not copied: only the key column is joined, and the
    prediction columns are put in file order next to them (10 M rows x 21 columns: 1.7 GB less).
    """
    if id_col in source.columns and source[id_col].n_unique() == source.height:
        key = id_col
    else:
        key = "row" if "row" not in source.columns else "nnforge_row"
        source = source.with_row_index(key, offset=1).with_columns(pl.col(key).cast(pl.Int64))
        oof = oof.rename({id_col: key}).with_columns(pl.col(key).cast(pl.Int64))
    values = oof.drop(key)
    if not set(values.columns) & set(source.columns):
        where = source.select(key).join(
            oof.select(key).with_row_index("at"), on=key, how="left", maintain_order="left"
        )["at"]
        if not where.null_count():
            return source.with_columns(values.select(pl.all().gather(where)))
    return source.join(oof, on=key, how="inner", maintain_order="left")
