"""Callbacks: hooks the trainer calls in the main process as results stream in.

The seed's "real-time reporter" is ``LambdaCallback(on_epoch_end=fn)``. Callbacks always run in
the parent process, even when folds train in worker processes, so they may hold files or streams.
"""

from __future__ import annotations

import atexit
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nnforge._format import format_number, format_quantity
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
    target: str | None = None
    unit: str | None = None


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
        f"fold {m.fold} epoch {m.epoch} train_loss {format_number(m.train_loss)} "
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
    """What is trained, then one progress line over folds x epochs, then the fold outcomes.

    On a terminal the line is drawn by ``rich`` (sized to the terminal, redrawn in place at most
    ``refresh`` times a second): fold-epochs done, fold-epochs per second, time left, and the
    latest validation R² and MAE averaged over the folds. Elsewhere (CI, files) a plain line is
    printed every ``log_every`` seconds and when a fold ends. With ``verbose=N`` a line with the
    mean over folds is kept every N epochs (as Keras' ``verbose=2``), on a terminal too.
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        verbose: int = 0,
        refresh: float = 5.0,
        log_every: float = 10.0,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.verbose = verbose
        self.refresh = refresh
        self.log_every = log_every
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._progress: Any = None
        self._task: Any = None
        self._info = TrainInfo(1, 1, 0, 0, 1)
        self._reset()

    def _reset(self) -> None:
        self._done = 0
        self._start = self._last_draw = time.perf_counter()
        self._latest: dict[int, EpochMetrics] = {}  # each fold's latest validated epoch
        self._by_epoch: dict[int, list[EpochMetrics]] = {}  # verbose: epochs not yet printed
        self._running = self._info.n_folds
        self._total = max(1, self._info.n_folds * self._info.epochs)  # less folds' unrun epochs

    # -- what is shown -----------------------------------------------------------------------

    def _validation(self) -> str:
        """Latest validation R² and MAE (a class target: accuracy and log loss), averaged over
        the folds that have one."""
        classes = [m for m in self._latest.values() if m.accuracy is not None]
        if classes:
            accuracy = sum(m.accuracy for m in classes) / len(classes)
            losses = [m.log_loss for m in classes if m.log_loss is not None]
            log_loss = format_number(sum(losses) / len(losses)) if losses else "-"
            return f"val accuracy {accuracy:.4f} · log loss {log_loss}"
        latest = [m for m in self._latest.values() if m.r2 is not None]
        if not latest:
            return "validating later"
        r2 = sum(m.r2 for m in latest) / len(latest)
        maes = [m.mae for m in latest if m.mae is not None]
        mae = format_quantity(sum(maes) / len(maes), self._info.unit) if maes else "-"
        return f"val R² {r2:.4f} · MAE {mae}"

    def _rate(self) -> str:
        elapsed = time.perf_counter() - self._start
        return f"{self._done / elapsed:,.1f}/s" if elapsed > 0 and self._done else "-/s"

    def _plain_line(self) -> str:
        total = self._total
        elapsed = time.perf_counter() - self._start
        return (
            f"[{self._done / total:4.0%}] {self._done:,}/{total:,} fold-epochs | "
            f"{self._rate()} fold-epochs | {self._validation()} | {elapsed:.1f}s"
        )

    def _print(self, text: str) -> None:
        """A line that stays (above the live progress line on a terminal)."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    # -- hooks -------------------------------------------------------------------------------

    def on_train_begin(self, info: TrainInfo) -> None:
        self._info = info
        self._reset()
        what = f"{info.target} ({info.unit})" if info.unit else (info.target or "the target")
        folds = f"{info.n_folds} folds" if info.n_folds > 1 else "1 split"
        workers = f"{info.workers} worker{'s' if info.workers > 1 else ''}"
        if self._tty:
            self._start_live(max(1, info.n_folds * info.epochs))
        means = f", means over the {info.n_folds} folds" if info.n_folds > 1 else ""
        kept = f"; a line every {self.verbose} epochs{means}" if self.verbose > 0 else ""
        self._print(
            f"training {folds} x {info.epochs:,} epochs · {info.n_rows:,} rows · "
            f"{info.n_inputs} inputs → {what} · {workers}{kept}"
        )

    def _start_live(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.table import Column

        console = Console(file=self.stream, highlight=False)
        wide = console.width >= 110
        text = Column(no_wrap=True, overflow="ellipsis")
        columns = [
            BarColumn(bar_width=40 if wide else 12),
            TaskProgressColumn(),
            *([MofNCompleteColumn()] if wide else []),
            TextColumn("{task.fields[rate]}", table_column=Column(no_wrap=True)),
            TimeRemainingColumn(elapsed_when_finished=True),
            TextColumn("{task.fields[metrics]}", table_column=text),
        ]
        self._progress = Progress(
            *columns,
            console=console,
            refresh_per_second=self.refresh,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._progress.add_task(
            "training", total=total, rate="-/s", metrics="validating later"
        )
        self._progress.start()
        atexit.register(self._stop_live)  # an exception must not leave the cursor hidden

    def _stop_live(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            atexit.unregister(self._stop_live)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        self._done += 1
        if metrics.r2 is not None or metrics.accuracy is not None:
            self._latest[metrics.fold] = metrics
        if self._progress is not None:
            rate = f"{self._rate()} fold-epochs" if self._progress.console.width >= 110 else ""
            self._progress.update(
                self._task,
                completed=self._done,
                rate=rate or self._rate(),
                metrics=self._validation(),
            )
        else:
            now = time.perf_counter()
            if now - self._last_draw >= self.log_every or self._done == self._total:
                self._last_draw = now
                self._print(self._plain_line())
        if self.verbose > 0:
            self._by_epoch.setdefault(metrics.epoch, []).append(metrics)
            self._print_epochs()

    def _print_epochs(self, *, last: bool = False) -> None:
        """Verbose lines for every epoch all running folds have reported, in order (``last``:
        the final epoch reported is shown too)."""
        final = max(self._by_epoch, default=0) if last else self._info.epochs
        for epoch in sorted(self._by_epoch):
            rows = self._by_epoch[epoch]
            if len(rows) < self._running:
                break
            del self._by_epoch[epoch]
            if epoch % self.verbose == 0 or epoch in (final, self._info.epochs):
                self._print(self._epoch_summary(epoch, rows))

    def _epoch_summary(self, epoch: int, rows: list[EpochMetrics]) -> str:
        """``epoch 50/500 - 12s - loss 0.0013 - val_loss 0.0014 - R² 0.8812 - MAE $71,234``,
        means over the folds (as Keras' verbose=2 line)."""

        def mean(name: str) -> float | None:
            values = [getattr(m, name) for m in rows if getattr(m, name) is not None]
            return sum(values) / len(values) if values else None

        elapsed = time.perf_counter() - self._start
        parts = [
            f"epoch {epoch:>{len(str(self._info.epochs))}}/{self._info.epochs}",
            f"{elapsed:.0f}s",
            f"loss {format_number(mean('train_loss'))}",
        ]
        if mean("accuracy") is not None:  # val_loss is the log loss of a class target
            parts += [
                f"val_loss {format_number(mean('val_loss'))}",
                f"accuracy {mean('accuracy'):.4f}",
            ]
        elif mean("r2") is not None:
            parts += [
                f"val_loss {format_number(mean('val_loss'))}",
                f"R² {mean('r2'):.4f}",
                f"MAE {format_quantity(mean('mae'), self._info.unit)}",
            ]
        return " - ".join(parts)

    def on_fold_end(self, result: FoldResult) -> None:
        if result.stopped != "completed":  # early stopping, divergence, Ctrl-C: epochs not run
            self._running -= 1
            self._total -= max(0, self._info.epochs - result.epochs_run)
            if self._progress is not None:
                self._progress.update(self._task, total=max(1, self._total))
            if self.verbose > 0:
                self._print_epochs()
        if result.stopped != "completed" or not self._tty:
            note = f": {result.message}" if result.message else ""
            self._print(
                f"fold {result.fold} {result.stopped} after {result.epochs_run} epochs, "
                f"{_short_score(result)}{note}"
            )

    def on_train_end(self, evaluation: Evaluation) -> None:
        if self.verbose > 0:  # what is left: the last epochs of folds that stopped early
            self._running = 0
            self._print_epochs(last=True)
        self._stop_live()
