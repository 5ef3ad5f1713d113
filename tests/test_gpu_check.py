"""benchmarks/gpu_check.py, the script a GPU host runs in one go, runs here on JAX's CPU backend.

A GPU is lent for minutes at a time: a script that breaks there (a moved spec, a renamed module)
wastes the loan. Two epochs, one seed per fold; the figures are not checked, only that every
part ran and reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.mark.slow
def test_gpu_check_runs_every_part_on_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    argv = [sys.executable, str(SCRIPT), "--epochs", "2", "--seeds", "1", "--json", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["full_run"]["folds"] == 8
    assert 0.0 < result["full_run"]["oof_r2"] < 1.0
    assert result["replicas"]["replicas"] == 8
    assert result["epoch_only"]["s_per_fold_epoch"] > 0
