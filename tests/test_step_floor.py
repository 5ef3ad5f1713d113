"""benchmarks/step_floor.py: its floor must be made of the engine's own calls, and it must run.

The benchmark's claim ("no NumPy engine of this network can be faster than these parts") holds
only while its matrix products are the ones ``Network.train_step`` makes; if the engine changes
its shapes or the number of products, this test says so.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
step_floor = importlib.import_module("step_floor")


def _products(call, monkeypatch) -> Counter:
    """(operand shapes) of every np.matmul and broadcast np.multiply of 3-D arrays in ``call``."""
    seen: Counter = Counter()
    matmul, multiply = np.matmul, np.multiply

    def record_matmul(a, b, *args, **kwargs):
        seen["matmul", a.shape, b.shape] += 1
        return matmul(a, b, *args, **kwargs)

    def record_multiply(a, b, *args, **kwargs):
        # the engine's outer product for a one-unit layer: (R, B, 1) x (R, 1, n)
        if getattr(a, "ndim", 0) == 3 and getattr(b, "ndim", 0) == 3 and a.shape[1:] != b.shape[1:]:
            seen["outer", a.shape, b.shape] += 1
        return multiply(a, b, *args, **kwargs)

    call()  # buffers and caches built first: only the step's own calls are recorded
    monkeypatch.setattr(np, "matmul", record_matmul)
    monkeypatch.setattr(np, "multiply", record_multiply)
    call()
    monkeypatch.setattr(np, "matmul", matmul)
    monkeypatch.setattr(np, "multiply", multiply)
    return seen


def test_floor_makes_the_engines_matrix_products(monkeypatch):
    _, net = step_floor._network(4)
    parts = step_floor._parts(net)
    engine = _products(parts["engine"], monkeypatch)
    floor = _products(parts["matmul"], monkeypatch)
    assert sum(engine.values()) == 3 * len(net.layers) - 1  # forward, dW, dX but layer 0's
    assert floor == engine


@pytest.mark.slow
def test_step_floor_runs(tmp_path):
    out = tmp_path / "floor.json"
    argv = [sys.executable, str(BENCH / "step_floor.py"), "--steps", "5", "--rounds", "1"]
    done = subprocess.run(
        [*argv, "--json", str(out)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["spec_steps_per_worker"] == 500 * 148
    assert set(result["parts"]) == {"engine", "matmul", "relu", "adam"}
    assert all(v["alone_s"] > 0 and v["together_s"] > 0 for v in result["parts"].values())
    assert "engine / floor" in done.stdout
