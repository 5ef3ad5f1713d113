"""Folds trained in worker processes: one group of replicas per process, one BLAS thread each.

:func:`run_in_workers` starts one process per group (fork where it is safe, else spawn), streams
every epoch's metrics to the parent as they come, and re-raises a worker's own exception in the
parent. The parent decides when to stop (:func:`~nnforge.training.processes.graceful_stop`); a
worker dies with its parent (:func:`~nnforge.training.processes.die_with_parent`).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import queue as queue_module
import sys
import traceback
import warnings
from typing import Any

from threadpoolctl import threadpool_limits

from nnforge.model import Model
from nnforge.training.callbacks import Callback
from nnforge.training.loop import GroupOutcome, ReplicaData, train_replicas
from nnforge.training.processes import die_with_parent, graceful_stop

__all__ = ["run_in_workers"]


def _worker_main(model_json: str, handed: list[ReplicaData], messages, stop, parent: int) -> None:
    """Train one group in a child process, streaming metrics to the parent."""
    die_with_parent(parent)  # never outlive the parent; it alone decides when to stop
    try:
        data = handed.pop()
        model = Model.from_json(model_json)
        with threadpool_limits(1):
            outcome = train_replicas(
                model,
                data,
                report=lambda m: messages.put(("epoch", m)),
                should_stop=stop.is_set,
            )
        messages.put(("done", outcome))
    except BaseException as exc:
        messages.put(("error", (_picklable(exc), traceback.format_exc())))


def _picklable(exc: BaseException) -> BaseException:
    """``exc`` itself when it survives pickling (to be raised again in the parent), else a
    RuntimeError with the same one-line message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def run_in_workers(
    model: Model, groups: list[ReplicaData], report, cb: Callback
) -> list[GroupOutcome]:
    """Train each group in its own worker process. ``groups`` is emptied as the workers start,
    so that the caller holds no reference to the shared table while they train."""
    # fork: children inherit the arrays (nothing to pickle) and never re-import the user's
    # __main__, so scripts without an `if __name__ == "__main__"` guard work. Workers use only
    # NumPy (no Polars threads), which keeps fork safe. Elsewhere spawn is the only safe choice.
    method = "fork" if "fork" in mp.get_all_start_methods() and sys.platform == "linux" else "spawn"
    ctx = mp.get_context(method)
    messages = ctx.Queue()
    stop = ctx.Event()
    procs: list[Any] = []
    outcomes: list[GroupOutcome] = []
    finished = False
    n_groups = len(groups)
    try:
        with graceful_stop(stop):
            while groups:  # plain data (pipelines as JSON): nothing to rebuild
                handed = [groups.pop(0)]
                proc = ctx.Process(
                    target=_worker_main,
                    args=(model.to_json(), handed, messages, stop, os.getpid()),
                    daemon=True,
                )
                with warnings.catch_warnings():
                    # After the jax backend ran in this process, JAX warns at every fork that
                    # its threads make a child that uses JAX deadlock-prone; these use NumPy only.
                    warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
                    proc.start()
                # The parent keeps no reference: with fork the worker's copy of the shared table
                # is the parent's memory until now, and the parent's pages are released here
                # (with spawn the group was pickled at start()).
                handed.clear()
                procs.append(proc)
            while len(outcomes) < n_groups:
                _receive(messages, procs, outcomes, report, cb, stop)
        finished = True
    finally:
        _end_workers(procs, graceful=finished)
        with contextlib.suppress(Exception):
            messages.close()
    return sorted(outcomes, key=lambda o: o.folds[0])


def _receive(messages, procs, outcomes: list[GroupOutcome], report, cb: Callback, stop) -> None:
    """Handle one message from the workers (or notice that a worker died without a result)."""
    try:
        kind, payload = messages.get(timeout=0.5)
    except queue_module.Empty:
        done = {f for o in outcomes for f in o.folds}
        if any(p.exitcode not in (None, 0) for p in procs) or not any(p.is_alive() for p in procs):
            stop.set()
            msg = f"a training worker process died without a result (folds done: {sorted(done)})"
            raise RuntimeError(msg) from None
        return
    if kind == "epoch":
        report(payload)
    elif kind == "done":
        outcomes.append(payload)
        for res in payload.results:
            cb.on_fold_end(res)
    else:
        # The worker's own exception, so the user sees the same one-line error as when the
        # folds train in this process; its traceback is kept as a note (--debug shows it).
        stop.set()
        exc, trace = payload
        exc.add_note(f"raised in a training worker process:\n{trace}")
        raise exc


def _end_workers(procs: list[Any], *, graceful: bool) -> None:
    """Wait for finished workers; kill the others at once (they ignore SIGTERM)."""
    for proc in procs:
        if graceful:
            proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=10)
