"""What a training run measured: per-epoch metrics per fold, fold results and the summary.

These are plain dataclasses so that worker processes can send them to the parent and the run
directory can store them as JSON and CSV.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from nnforge.exceptions import DivergenceError

__all__ = [
    "CLASSIFICATION_HISTORY_COLUMNS",
    "HISTORY_COLUMNS",
    "EpochMetrics",
    "Evaluation",
    "FoldResult",
    "check_finite_summary",
    "history_columns",
]

HISTORY_COLUMNS = ("fold", "epoch", "train_loss", "val_loss", "val_loss_std", "r2", "mae", "lr")
CLASSIFICATION_HISTORY_COLUMNS = (
    *("fold", "epoch", "train_loss", "val_loss", "val_loss_std"),
    *("accuracy", "balanced_accuracy", "log_loss", "roc_auc", "lr"),
)


def history_columns(task: str) -> tuple[str, ...]:
    """The columns of ``history.csv`` for a ``"regression"`` or ``"classification"`` run."""
    return CLASSIFICATION_HISTORY_COLUMNS if task == "classification" else HISTORY_COLUMNS


def _finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN: unmeasured or non-finite values are stored as null."""
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class EpochMetrics:
    """One fold's measurements after one epoch. Validation fields are None when not computed.

    ``val_loss``/``val_loss_std`` are the mean and standard deviation of the per-row loss on the
    held-out rows (in the model's preprocessed units); ``r2`` and ``mae`` are on the target in
    original units, and a class target has ``accuracy``, ``balanced_accuracy``, ``log_loss`` and
    (2 classes) ``roc_auc`` instead. ``monitor_loss`` is what early stopping watches (the loss,
    or the spec's metric with its sign flipped when greater is better) on rows split off the
    training set.
    """

    fold: int
    epoch: int
    train_loss: float
    val_loss: float | None = None
    val_loss_std: float | None = None
    r2: float | None = None
    mae: float | None = None
    lr: float | None = None
    monitor_loss: float | None = None
    accuracy: float | None = None
    balanced_accuracy: float | None = None
    log_loss: float | None = None
    roc_auc: float | None = None

    def as_row(self) -> dict[str, Any]:
        """A JSON-safe dict (non-finite values become None)."""
        return {
            k: (_finite_or_none(v) if isinstance(v, float) else v)
            for k, v in dataclasses.asdict(self).items()
        }


@dataclass
class FoldResult:
    """The outcome of one fold (or of the single split)."""

    fold: int
    n_train: int
    n_valid: int
    n_dropped: int = 0
    n_monitor: int = 0
    epochs_run: int = 0
    best_epoch: int | None = None
    r2: float | None = None
    mae: float | None = None
    stopped: str = "completed"  # completed | early_stopping | diverged | interrupted
    message: str | None = None
    accuracy: float | None = None
    balanced_accuracy: float | None = None
    log_loss: float | None = None
    roc_auc: float | None = None

    def score(self, metric: str) -> float | None:
        """The fold's value of ``metric`` (``"r2"``, ``"accuracy"``...), None if not measured."""
        value = getattr(self, metric, None)
        return None if value is None or not math.isfinite(value) else float(value)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; metrics that do not apply to the task are left out."""
        out = dataclasses.asdict(self)
        for key in ("r2", "mae", "accuracy", "balanced_accuracy", "log_loss", "roc_auc"):
            out[key] = _finite_or_none(getattr(self, key))
            if out[key] is None and key not in ("r2", "mae"):
                del out[key]
        return out


@dataclass
class Evaluation:
    """Per-epoch history, fold results and the run summary."""

    folds: list[FoldResult] = field(default_factory=list)
    history: list[EpochMetrics] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def history_frame(self) -> pl.DataFrame:
        """The long-format history (one row per fold and epoch), as in ``history.csv``."""
        columns = history_columns(self.summary.get("task", "regression"))
        keep = (*columns, "monitor_loss")
        rows = [{c: row[c] for c in keep} for row in (m.as_row() for m in self.history)]
        schema = {c: (pl.Int64 if c in ("fold", "epoch") else pl.Float64) for c in columns}
        schema["monitor_loss"] = pl.Float64
        return pl.DataFrame(rows, schema=schema, orient="row").sort("fold", "epoch")

    def to_dict(self) -> dict[str, Any]:
        """The content of ``evaluation.json``."""
        return {
            "summary": {
                k: _finite_or_none(v) if isinstance(v, float) else v
                for k, v in self.summary.items()
            },
            "folds": [f.as_dict() for f in self.folds],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], history: pl.DataFrame | None = None) -> Evaluation:
        """Rebuild from ``evaluation.json`` (and optionally ``history.csv``)."""
        folds = [FoldResult(**f) for f in data.get("folds", [])]
        epochs = []
        if history is not None:
            names = {f.name for f in dataclasses.fields(EpochMetrics)}
            for row in history.iter_rows(named=True):
                epochs.append(EpochMetrics(**{k: v for k, v in row.items() if k in names}))
        return cls(folds=folds, history=epochs, summary=dict(data.get("summary", {})))


_SCORES = (
    *("oof_r2", "oof_mae", "mean_fold_r2", "std_fold_r2", "best_fold_r2"),
    *("oof_accuracy", "oof_balanced_accuracy", "oof_log_loss"),
)


def check_finite_summary(summary: dict[str, Any]) -> None:
    """Raise :class:`DivergenceError` when a score of a run that trained is not finite.

    A score of ``nan`` or ``inf`` is never a result: exit codes and reports must not present it
    as one. (Scores of folds that diverged are left out of the summary beforehand.)
    """
    bad = {k: v for k in _SCORES if isinstance(v := summary.get(k), float) and not math.isfinite(v)}
    if bad:
        shown = ", ".join(f"{k}={v}" for k, v in bad.items())
        msg = (
            f"the run's scores are not finite ({shown}): some predictions or targets overflow; "
            f"check the target's largest values and the scaling of the output"
        )
        raise DivergenceError(msg)
