"""Run directories: write a finished run atomically, load it back, predict with it.

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
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from nnforge._io import atomic_write_text, write_frame
from nnforge.data import Pipeline, derive, read_table
from nnforge.exceptions import NNForgeError
from nnforge.model import Model
from nnforge.nn import Network
from nnforge.training.evaluation import Evaluation

if TYPE_CHECKING:
    from nnforge.training.trainers import RunResult

__all__ = ["Run", "load_run", "save_run", "staging_dir"]


def staging_dir(out_dir: Path) -> Path:
    """A fresh hidden folder beside ``out_dir`` where the run is assembled."""
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def save_run(result: RunResult, out_dir: Path, *, staging: Path | None = None) -> Path:
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
    """A trained run loaded from its directory: spec, fitted pipelines, fold networks."""

    path: Path
    model: Model
    pipelines: list[Pipeline]
    networks: list[Network]
    evaluation: Evaluation

    @classmethod
    def load(cls, path: str | Path) -> Run:
        """Load a run directory written by :func:`save_run`."""
        path = Path(path)
        if not (path / "spec.json").is_file():
            msg = f"not a run directory (no spec.json): {path}"
            raise NNForgeError(msg)
        model = Model.from_json_file(path / "spec.json")
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
        return cls(path, model, pipelines, networks, evaluation)

    @property
    def best_fold(self) -> int | None:
        """The fold with the highest held-out R²."""
        return self.evaluation.summary.get("best_fold")

    def predictions(self) -> pl.DataFrame:
        """The out-of-fold predictions joined to the original rows (original units)."""
        return pl.read_parquet(self.path / "predictions.parquet")

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


def load_run(path: str | Path) -> Run:
    """Load a run directory; see :class:`Run`."""
    return Run.load(path)
