"""Callbacks: hooks the trainer calls in the main process as results stream in.

The seed's "real-time reporter" is ``LambdaCallback(on_epoch_end=fn)``. Callbacks always run in
the parent process, even when folds train in worker processes, so they may hold files or streams.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nnforge._format import format_number
from nnforge.training.evaluation import EpochMetrics, Evaluation, FoldResult

__all__ = ["Callback", "CallbackList", "EpochLogger", "LambdaCallback", "ProgressBar", "TrainInfo"]


@dataclass(frozen=True)
class TrainInfo:
    """What a run is about to do, given to :meth:`Callback.on_train_begin`."""

    n_folds: int
    epochs: int
    n_rows: int
    n_inputs: int
    workers: int


class Callback:
    """Base class: override any of the hooks; each default does nothing."""

    def on_train_begin(self, info: TrainInfo) -> None:
        """Called once, after preprocessing, before the first epoch."""

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        """Called for every fold and epoch, in the order results arrive."""

    def on_fold_end(self, result: FoldResult) -> None:
        """Called when a fold completes, stops early, diverges or is interrupted."""

    def on_train_end(self, evaluation: Evaluation) -> None:
        """Called once with the full evaluation, before the run directory is written."""


class LambdaCallback(Callback):
    """Build a callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=print)``."""

    def __init__(
        self,
        *,
        on_train_begin: Callable[[TrainInfo], None] | None = None,
        on_epoch_end: Callable[[EpochMetrics], None] | None = None,
        on_fold_end: Callable[[FoldResult], None] | None = None,
        on_train_end: Callable[[Evaluation], None] | None = None,
    ) -> None:
        self._hooks = {
            "on_train_begin": on_train_begin,
            "on_epoch_end": on_epoch_end,
            "on_fold_end": on_fold_end,
            "on_train_end": on_train_end,
        }

    def on_train_begin(self, info: TrainInfo) -> None:
        if self._hooks["on_train_begin"]:
            self._hooks["on_train_begin"](info)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        if self._hooks["on_epoch_end"]:
            self._hooks["on_epoch_end"](metrics)

    def on_fold_end(self, result: FoldResult) -> None:
        if self._hooks["on_fold_end"]:
            self._hooks["on_fold_end"](result)

    def on_train_end(self, evaluation: Evaluation) -> None:
        if self._hooks["on_train_end"]:
            self._hooks["on_train_end"](evaluation)


class CallbackList(Callback):
    """Calls every callback of a list in order."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks = list(callbacks)

    def on_train_begin(self, info: TrainInfo) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(info)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(metrics)

    def on_fold_end(self, result: FoldResult) -> None:
        for cb in self.callbacks:
            cb.on_fold_end(result)

    def on_train_end(self, evaluation: Evaluation) -> None:
        for cb in self.callbacks:
            cb.on_train_end(evaluation)


def _scores(m: EpochMetrics | FoldResult) -> str:
    """``r2 … mae …``, or the classification metrics when measured."""
    if m.accuracy is None:
        return f"r2 {format_number(m.r2)} mae {format_number(m.mae)}"
    auc = "" if m.roc_auc is None else f" roc_auc {format_number(m.roc_auc)}"
    return (
        f"accuracy {format_number(m.accuracy)} "
        f"balanced_accuracy {format_number(m.balanced_accuracy)} "
        f"log_loss {format_number(m.log_loss)}{auc}"
    )


def _epoch_line(m: EpochMetrics) -> str:
    return (
        f"fold {m.fold} epoch {m.epoch + 1} train_loss {format_number(m.train_loss)} "
        f"val_loss {format_number(m.val_loss)} val_loss_std {format_number(m.val_loss_std)} "
        f"{_scores(m)} lr {format_number(m.lr)}"
    )


def _short_score(result: FoldResult) -> str:
    if result.accuracy is not None:
        return f"accuracy {format_number(result.accuracy)}"
    return f"R² {format_number(result.r2)}"


class EpochLogger(Callback):
    """Append one line per fold and epoch to a log file (the run directory's ``log.txt``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def on_train_begin(self, info: TrainInfo) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._file.write(
            f"start: {info.n_folds} fold(s) x {info.epochs} epochs, {info.n_rows} rows, "
            f"{info.n_inputs} inputs, {info.workers} worker(s)\n"
        )

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        if self._file:
            self._file.write(_epoch_line(metrics) + "\n")

    def on_fold_end(self, result: FoldResult) -> None:
        if self._file:
            note = f" ({result.message})" if result.message else ""
            self._file.write(
                f"fold {result.fold} {result.stopped} after {result.epochs_run} epochs: "
                f"{_scores(result)}{note}\n"
            )

    def on_train_end(self, evaluation: Evaluation) -> None:
        if self._file:
            self._file.write(f"summary: {evaluation.summary}\n")
            self._file.close()
            self._file = None


class ProgressBar(Callback):
    """One calm progress line over folds x epochs; plain log lines when not on a terminal.

    On a terminal the line is redrawn in place at most ``refresh`` times a second. Elsewhere
    (CI, files) a line is printed every ``log_every`` seconds and when a fold ends.
    """

    def __init__(
        self, stream: IO[str] | None = None, *, refresh: float = 5.0, log_every: float = 10.0
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.refresh = refresh
        self.log_every = log_every
        self._total = 1
        self._done = 0
        self._start = 0.0
        self._last_draw = 0.0
        self._last_r2: dict[int, float | None] = {}
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def on_train_begin(self, info: TrainInfo) -> None:
        self._total = max(1, info.n_folds * info.epochs)
        self._done = 0
        self._start = self._last_draw = time.perf_counter()
        self._last_r2 = {}
        self._label = "R²"
        self._epochs = info.epochs

    def _line(self, m: EpochMetrics | None) -> str:
        elapsed = time.perf_counter() - self._start
        frac = self._done / self._total
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        r2s = [v for v in self._last_r2.values() if v is not None]
        mean_r2 = f" | mean {self._label} {sum(r2s) / len(r2s):.4f}" if r2s else ""
        last = ""
        if m is not None:
            loss = format_number(m.train_loss)
            last = f" | fold {m.fold} epoch {m.epoch + 1}/{self._epochs} loss {loss}"
        if self._tty:
            width = 24
            filled = int(width * frac)
            bar = "█" * filled + "·" * (width - filled)
            return f"\r{bar} {frac:4.0%}{last}{mean_r2} | {elapsed:5.1f}s < {eta:5.1f}s\x1b[K"
        return (
            f"[{frac:4.0%}] {self._done}/{self._total} fold-epochs{last}{mean_r2} | {elapsed:.1f}s"
        )

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        self._done += 1
        if metrics.r2 is not None:
            self._last_r2[metrics.fold] = metrics.r2
        elif metrics.accuracy is not None:  # a class target: show the accuracy
            self._last_r2[metrics.fold] = metrics.accuracy
            self._label = "accuracy"
        now = time.perf_counter()
        interval = 1.0 / self.refresh if self._tty else self.log_every
        if now - self._last_draw >= interval or self._done == self._total:
            self._last_draw = now
            self.stream.write(self._line(metrics) + ("" if self._tty else "\n"))
            self.stream.flush()

    def on_fold_end(self, result: FoldResult) -> None:
        if result.stopped != "completed" or not self._tty:
            prefix = "\n" if self._tty else ""
            note = f": {result.message}" if result.message else ""
            self.stream.write(
                f"{prefix}fold {result.fold} {result.stopped} after {result.epochs_run} epochs, "
                f"{_short_score(result)}{note}\n"
            )
            self.stream.flush()

    def on_train_end(self, evaluation: Evaluation) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
