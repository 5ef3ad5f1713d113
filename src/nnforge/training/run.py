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
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from nnforge._io import atomic_write_text, write_frame
from nnforge.data import Pipeline, derive, read_table
from nnforge.exceptions import NNForgeError, SpecError
from nnforge.model import Model
from nnforge.nn import Network
from nnforge.training.evaluation import Evaluation

__all__ = ["Run", "save_run", "staging_dir"]


def staging_dir(out_dir: Path) -> Path:
    """A fresh hidden folder beside ``out_dir`` where the run is assembled."""
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def save_run(result: Run, out_dir: Path, *, staging: Path | None = None) -> Path:
    """Write ``result`` to ``out_dir`` (replacing an existing run there) and return the path."""
    out_dir = Path(out_dir)
    staging = staging or staging_dir(out_dir)
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
    result.path = out_dir
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        out_dir.rename(old)
    staging.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
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
        """Load a run directory written by :func:`save_run`."""
        path = Path(path)
        if not (path / "spec.json").is_file():
            msg = f"not a run directory (no spec.json): {path}"
            raise NNForgeError(msg)
        try:
            model = Model.from_json_file(path / "spec.json")
        except SpecError as exc:
            msg = (
                f"cannot load the run in {path}: its spec.json does not validate (written by an "
                f"older nnforge version?): {exc}"
            )
            raise NNForgeError(msg) from None
        pipelines, networks = [], []
        i = 0
        while (path / "pipelines" / f"fold_{i}.json").is_file():
            text = (path / "pipelines" / f"fold_{i}.json").read_text(encoding="utf-8")
            pipelines.append(Pipeline.from_json(text))
            networks.append(Network.load(path / "models" / f"fold_{i}"))
            i += 1
        if not pipelines:
            msg = f"run directory has no fitted folds: {path}"
            raise NNForgeError(msg)
        evaluation = Evaluation.from_dict(
            json.loads((path / "evaluation.json").read_text(encoding="utf-8")),
            pl.read_csv(path / "history.csv") if (path / "history.csv").is_file() else None,
        )
        if not (path / "predictions.parquet").is_file():
            msg = f"incomplete run directory (no predictions.parquet): {path}"
            raise NNForgeError(msg)
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

    def predict(self, data: pl.DataFrame | str | Path, *, fold: int | None = None) -> pl.DataFrame:
        """Predict new rows in original units.

        With ``fold=None`` every fold model predicts and the result is their mean
        (``<target>_pred``) and spread across folds (``<target>_pred_std``); averaging
        predictions is sound where averaging weights is not. With ``fold=i`` only that model.
        """
        source = data if isinstance(data, pl.DataFrame) else read_table(data)
        frame = derive(self.model.dataset, source, cache=False)
        folds = range(len(self.networks)) if fold is None else [self._check_fold(fold)]
        preds = []
        for i in folds:
            pipeline = self.pipelines[i]
            _, x, _ = pipeline.to_arrays(pipeline.transform(frame), dtype=self.model.dtype)
            with threadpool_limits(1):  # small matrices: more BLAS threads only slow them down
                out = self.networks[i].predict(x[None])[0]
            preds.append(pipeline.invert_predictions(out))
        stacked = np.stack(preds)  # (folds, n, outputs)
        mean, std = stacked.mean(axis=0), stacked.std(axis=0)
        columns: dict[str, Any] = {}
        for j, name in enumerate(self.pipelines[0].output_features_):
            columns[f"{name}_pred"] = mean[:, j]
            if fold is None:
                columns[f"{name}_pred_std"] = std[:, j]
        return source.with_columns(pl.DataFrame(columns))

    def _check_fold(self, fold: int) -> int:
        if not 0 <= fold < len(self.networks):
            msg = f"`fold` must be in [0, {len(self.networks) - 1}]. Received: fold={fold}"
            raise ValueError(msg)
        return fold
