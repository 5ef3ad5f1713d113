"""Where each training worker's time goes: engine steps, batch gathering, validation, the rest.

Runs ``nnforge train`` (the packaged tuned King County spec unless another is given) with timers
wrapped around ``Network.train_step``, the NumPy runner's epoch and the per-epoch validation;
each worker prints its split when its group ends (workers are forked, so they inherit the
timers). Issue 10: on two Emerald Rapids cores the steps were 89 % of a worker's time. Run from
the repository root::

    python benchmarks/training_split.py [SPEC] [nnforge train options, e.g. --epochs 20]
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from nnforge.demos import example_spec
from nnforge.nn import network
from nnforge.training import loop, trainers, workers

_ACC = {"step": 0.0, "steps": 0, "epoch": 0.0, "measure": 0.0}
_EPOCHS: list[float] = []  # each epoch's seconds in run_epoch, in order


def _timed(owner: Any, name: str, key: str, count: str | None = None) -> None:
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = original(*args, **kwargs)
        _ACC[key] += time.perf_counter() - start
        if key == "epoch":
            _EPOCHS.append(time.perf_counter() - start)
        if count:
            _ACC[count] += 1
        return result

    setattr(owner, name, wrapper)


def _train_replicas(*args: Any, **kwargs: Any) -> Any:
    start = time.perf_counter()
    result = _TRAIN_REPLICAS(*args, **kwargs)
    total = time.perf_counter() - start
    a = _ACC
    each = a["step"] / max(a["steps"], 1) * 1e6
    print(
        f"worker {os.getpid()}: {total:.2f} s | steps {a['step']:.2f} s ({a['steps']} of "
        f"{each:.0f} µs, {a['step'] / total:.0%}) | gathering {a['epoch'] - a['step']:.2f} s | "
        f"validation {a['measure']:.2f} s | other {total - a['epoch'] - a['measure']:.2f} s"
        f"{_drift()}",
        flush=True,
    )
    return result


def _drift() -> str:
    """The last tenth of the epochs' mean time over the first tenth's (1.0: no slow-down)."""
    k = len(_EPOCHS) // 10
    if k == 0:
        return ""
    first, last = sum(_EPOCHS[:k]) / k, sum(_EPOCHS[-k:]) / k
    return f" | epochs, last {k} / first {k}: {last / first:.2f}"


_TRAIN_REPLICAS = loop.train_replicas


def main(argv: list[str]) -> None:
    _timed(network.Network, "train_step", "step", "steps")
    _timed(loop._TableRunner, "run_epoch", "epoch")
    _timed(loop._Validator, "measure", "measure")
    trainers.train_replicas = workers.train_replicas = _train_replicas
    spec = argv[0] if argv and not argv[0].startswith("-") else str(example_spec("king-county"))
    rest = argv[1:] if argv and not argv[0].startswith("-") else argv
    from nnforge.cli import main as cli

    start = time.perf_counter()
    cli(["train", spec, "--quiet", "--out", f"runs/training-split-{os.getpid()}", *rest])
    print(f"nnforge train: {time.perf_counter() - start:.2f} s wall", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
