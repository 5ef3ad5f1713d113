"""No subnormal floats in King County training, and the caller's floating-point mode kept.

Without flush-to-zero, 30 epochs of the tuned King County spec leave about 20 % of the
parameters and gradients and 5 % of Adam's first moment subnormal (below 1.18e-38), and every
operation on them runs many times slower on Intel CPUs (docs/DESIGN.md, "Floating-point mode").
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from nnforge.demos import example_spec
from nnforge.inspection import run_importance
from nnforge.model import KFolds, Model
from nnforge.nn import fpmode
from nnforge.training import Run, train

pytestmark = pytest.mark.skipif(not fpmode.available(), reason="no flush-to-zero on this CPU")

TINY = np.finfo(np.float32).tiny


def _n_subnormal(values: np.ndarray) -> int:
    return int(np.count_nonzero((values != 0) & (np.abs(values) < TINY)))


def _control(mode: int | None) -> int | None:
    """The mode without the sticky exception flags (MXCSR bits 0-5), which any float op sets."""
    return None if mode is None else mode & ~0x3F


def _model(epochs: int, k: int) -> Model:
    return Model.from_json_file(example_spec("king-county")).with_overrides(
        epochs=epochs, trainer=KFolds(k=k)
    )


def test_in_process_training_keeps_every_buffer_normal_and_the_callers_mode(
    kc_path, tmp_path, monkeypatch
):
    built = []
    build = Model.build_network

    def keep(self, *args, **kwargs):
        built.append(build(self, *args, **kwargs))
        return built[-1]

    monkeypatch.setattr(Model, "build_network", keep)  # the network the epoch loop trains
    before = _control(fpmode.get_mode())
    out = tmp_path / "run"
    train(_model(30, 4), kc_path, out_dir=out, workers=1, progress=False)
    assert _control(fpmode.get_mode()) == before
    net = built[0]  # the one trained (the others are built afterwards to hold the results)
    assert net.optimizers[0].iterations == 30 * 127
    buffers = {"params": net.params, "grads": net.grads}
    for i, opt in enumerate(net.optimizers):
        buffers |= {f"optimizer {i} slot {j}": slot for j, slot in enumerate(opt.slots)}
    assert len(buffers) == 4  # Adam's two moments
    assert {name: _n_subnormal(b) for name, b in buffers.items()} == dict.fromkeys(buffers, 0)

    run = Run.load(out)
    run.predict(run.predictions.head(50))
    assert _control(fpmode.get_mode()) == before
    run_importance(out, n_shuffles=1)
    assert _control(fpmode.get_mode()) == before


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_worker_processes_flush_too(kc_path, monkeypatch, method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    monkeypatch.setattr(mp, "get_all_start_methods", lambda: [method])  # what the trainer picks
    result = train(_model(30, 2), kc_path, workers=2, progress=False)
    assert [_n_subnormal(net.params) for net in result.networks] == [0, 0]
