"""A trained run: in memory (what ``train`` returns) or loaded from its run directory.

Layout (see ``docs/DESIGN.md``)::

    RUN_DIR/spec.json, evaluation.json, history.csv, log.txt,
            predictions.csv, predictions.parquet,
            pipelines/fold_{i}.json, models/fold_{i}.{safetensors,json}, models/best.*

The directory is assembled under a hidden staging name next to ``RUN_DIR`` and renamed into
place at the end, so a crash never leaves a half-written run behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from nnforge._io import atomic_write_text, write_frame
from nnforge.data import Pipeline, derive, read_table
from nnforge.data.targets import predicted_labels, probability_columns
from nnforge.exceptions import DataError
from nnforge.model import Model
from nnforge.nn import Network, backends
from nnforge.training.evaluation import Evaluation
from nnforge.training.rundir import (
    RunDirDamagedError,
    check_replaceable,
    load_run_files,
    publish,
    staging_dir,
)

__all__ = ["Run", "save_run"]


def save_run(result: Run, out_dir: Path, *, staging: Path | None = None) -> Path:
    """Write ``result`` to ``out_dir`` (replacing an existing run there) and return the path.

    ``out_dir`` must be replaceable (see :mod:`nnforge.training.rundir`); the caller holds its
    lock (``Trainer.fit`` does).
    """
    out_dir = Path(out_dir)
    staging = staging or staging_dir(check_replaceable(out_dir))
    atomic_write_text(staging / "spec.json", result.model.to_json() + "\n")
    atomic_write_text(
        staging / "evaluation.json", json.dumps(result.evaluation.to_dict(), indent=2) + "\n"
    )
    write_frame(result.evaluation.history_frame(), staging / "history.csv")
    write_frame(result.predictions, staging / "predictions.csv")
    write_frame(result.predictions, staging / "predictions.parquet")
    for i, (pipeline, network) in enumerate(zip(result.pipelines, result.networks, strict=True)):
        atomic_write_text(staging / "pipelines" / f"fold_{i}.json", pipeline.to_json())
        network.save(staging / "models" / f"fold_{i}")
    if result.best_fold is not None:
        result.networks[result.best_fold].save(staging / "models" / "best")
    publish(staging, out_dir)
    result.path = out_dir
    return out_dir


@dataclass
class Run:
    """A trained run: spec, fitted pipeline and network per fold, evaluation, predictions.

    ``train`` returns one (``path`` is its run directory once written, else ``None``);
    :meth:`load` reads one back from a run directory.
    """

    path: Path | None
    model: Model
    pipelines: list[Pipeline]
    networks: list[Network]
    evaluation: Evaluation
    predictions: pl.DataFrame
    """The out-of-fold predictions joined to the original rows (original units)."""

    @classmethod
    def load(cls, path: str | Path) -> Run:
        """Load a run directory written by :func:`save_run`.

        Every fold's files must be present, readable and consistent with ``spec.json``; else a
        :class:`~nnforge.training.rundir.RunDirDamagedError` names the first bad file.
        """
        path = Path(path)
        model, evaluation_data, pipelines, networks = load_run_files(path)
        history = path / "history.csv"
        evaluation = Evaluation.from_dict(
            evaluation_data, _read_history(history) if history.is_file() else None
        )
        if not (path / "predictions.parquet").is_file():
            msg = f"{path / 'predictions.parquet'}: missing"
            raise RunDirDamagedError(msg)
        predictions = pl.read_parquet(path / "predictions.parquet")
        return cls(path, model, pipelines, networks, evaluation, predictions)

    @property
    def best_fold(self) -> int | None:
        """The fold with the highest held-out R²."""
        return self.evaluation.summary.get("best_fold")

    @property
    def summary(self) -> dict[str, Any]:
        """The evaluation summary (out-of-fold R², mean and best fold R², wall time...)."""
        return self.evaluation.summary

    def predict(
        self, data: pl.DataFrame | str | Path, *, fold: int | None = None, backend: str = "numpy"
    ) -> pl.DataFrame:
        """Predict new rows in original units.

        With ``fold=None`` every fold model predicts and the result is their mean
        (``<target>_pred``) and spread across folds (``<target>_pred_std``); averaging
        predictions is sound where averaging weights is not. With ``fold=i`` only that model.
        A class target gives the predicted label (``<target>_pred``, the most probable class of
        the mean probabilities) and ``<target>_proba_<label>`` per class (with ``_std``).
        ``backend`` computes the forward pass (``"numpy"`` or ``"jax"``, whichever trained it).
        """
        runner = backends.get(backend)
        dataset = self.model.dataset
        source = (
            data if isinstance(data, pl.DataFrame) else read_table(data, **dataset.read_options())
        )
        # The target column is not needed to predict: present, blank or absent, it is left out.
        known = source.drop([n for n in dataset.out_features_names() if n in source.columns])
        frame = derive(dataset, known, cache=False)
        folds = range(len(self.networks)) if fold is None else [self._check_fold(fold)]
        preds = []
        for i in folds:
            pipeline = self.pipelines[i]
            _, x, _ = pipeline.to_arrays(pipeline.transform(frame), dtype=self.model.dtype)
            with threadpool_limits(1):  # small matrices: more BLAS threads only slow them down
                out = runner(self.networks[i]).predict(x[None])[0]
            with np.errstate(over="ignore", invalid="ignore"):
                preds.append(pipeline.invert_predictions(out))
            _check_finite_predictions(preds[-1], i, frame[pipeline.id_column].to_numpy())
        stacked = np.stack(preds)  # (folds, n, outputs)
        mean, std = stacked.mean(axis=0), stacked.std(axis=0)
        if self.model.task == "classification":
            return source.with_columns(self._class_columns(mean, std, spread=fold is None))
        columns: dict[str, Any] = {}
        for j, name in enumerate(self.pipelines[0].output_features_):
            columns[f"{name}_pred"] = mean[:, j]
            if fold is None:
                columns[f"{name}_pred_std"] = std[:, j]
        return source.with_columns(pl.DataFrame(columns))

    def _class_columns(self, proba: np.ndarray, std: np.ndarray, *, spread: bool) -> pl.DataFrame:
        """The predicted label, one probability column per class (the mean over folds) and,
        for an ensemble, each probability's spread across folds."""
        target = self.model.dataset.class_target
        labels = self.model.dataset.features[target].classes.labels
        columns: dict[str, Any] = {f"{target}_pred": predicted_labels(proba, labels)}
        names = probability_columns(target, self.pipelines[0].class_labels_)
        for j, name in enumerate(names):
            columns[name] = proba[:, j]
        if spread:
            for j, name in enumerate(names):
                columns[f"{name}_std"] = std[:, j]
        return pl.DataFrame(columns)

    def _check_fold(self, fold: int) -> int:
        if not 0 <= fold < len(self.networks):
            msg = f"`fold` must be in [0, {len(self.networks) - 1}]. Received: fold={fold}"
            raise ValueError(msg)
        return fold


def _check_finite_predictions(pred: np.ndarray, fold: int, ids: np.ndarray) -> None:
    """A prediction of ``inf``/``nan`` is never an answer: name the fold and the rows."""
    bad = ~np.isfinite(pred).all(axis=-1)
    if bad.any():
        shown = ", ".join(str(v) for v in ids[bad][:5]) + (" ..." if bad.sum() > 5 else "")
        msg = (
            f"fold {fold}'s model predicts non-finite values for {int(bad.sum())} row(s) (ids "
            f"{shown}): its files (pipelines/fold_{fold}.json, models/fold_{fold}.*) look "
            f"damaged, or these rows lie far outside the training data"
        )
        raise DataError(msg)


def _read_history(path: Path) -> pl.DataFrame:
    """``history.csv`` with its types: fold and epoch integers, every metric a float. (Type
    guessing reads a column that was never measured, e.g. validation with ``validate_every:
    0``, as text.)"""
    frame = pl.read_csv(path, infer_schema=False)
    try:
        return frame.with_columns(
            pl.col(c).cast(pl.Int64 if c in ("fold", "epoch") else pl.Float64)
            for c in frame.columns
        )
    except pl.exceptions.InvalidOperationError as exc:
        first = str(exc).strip().splitlines()[0]
        msg = f"{path}: not a history written by nnforge ({first})"
        raise RunDirDamagedError(msg) from None
