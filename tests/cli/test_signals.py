"""Real signals to a real ``nnforge train`` process: graceful stops, the lock, no orphans.

Each test starts the command line in a subprocess on a small synthetic table with an epoch count
it never reaches, waits until its two worker processes run, and signals it. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads worker processes from /proc (Linux)"
)

_CLI = [sys.executable, "-c", "import sys; from nnforge.cli import main; sys.exit(main())"]
_TIMEOUT = 60.0


def _children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (live or zombie), from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait(predicate, what: str, timeout: float = _TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A data file, a spec that would train for a very long time, and a 2-epoch spec."""
    work = tmp_path_factory.mktemp("signals")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (200, 2))
    frame = pl.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": 3 * x[:, 0] - x[:, 1]})
    frame.write_csv(work / "data.csv")
    feature = {"scale": "minmax"}
    spec = {
        "dataset": {
            "name": "signals",
            "features": {"a": feature, "b": feature, "y": {**feature, "output": True}},
        },
        "layers": [{"units": 4}, {"units": 1, "activation": "linear"}],
        "batch_size": 64,
        "epochs": 10_000_000,
        "trainer": {"name": "kfolds", "k": 2},
        "validate_every": 0,
    }
    long = work / "long.json"
    long.write_text(json.dumps(spec))
    short = work / "short.json"
    short.write_text(json.dumps({**spec, "epochs": 2}))
    return work / "data.csv", long, short


def _start(spec: Path, data: Path, out: Path) -> subprocess.Popen[str]:
    args = ["train", str(spec), "--data", str(data), "--out", str(out), "--workers", "2"]
    env = {**os.environ, "XDG_CACHE_HOME": str(out.parent / "cache")}
    return subprocess.Popen(
        [*_CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _workers(proc: subprocess.Popen[str]) -> list[int]:
    """Wait until the training runs its two workers (not the multiprocessing helpers)."""
    found: list[int] = []

    def two() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"nnforge train exited early: {proc.communicate()[1]}")
        found[:] = [p for p in _children(proc.pid) if _running(p)]
        return len(found) >= 2

    _wait(two, "two worker processes")
    time.sleep(0.5)  # a few epochs
    return found


def _run(argv: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(out.parent / "cache")}
    return subprocess.run([*_CLI, *argv], capture_output=True, text=True, timeout=_TIMEOUT, env=env)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_like_ctrl_c_and_the_lock_refuses_a_second_run(
    setup, tmp_path, signum
):
    data, long, short = setup
    out = tmp_path / "run"
    proc = _start(long, data, out)
    try:
        workers = _workers(proc)
        second = _run(["train", str(short), "--data", str(data), "--out", str(out)], out)
        assert second.returncode == 1
        err = second.stderr.strip().splitlines()
        assert len(err) == 2, second.stderr
        assert f"another training (PID {proc.pid}) is writing `{out}`" in err[0]
        assert err[1].startswith("hint: wait for the other training")
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=_TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "stopped early" in stderr
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["summary"]["interrupted"] is True
    assert all(f["stopped"] == "interrupted" for f in evaluation["folds"])
    assert (out / "predictions.csv").is_file()
    assert not any(_running(p) for p in workers)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["run"]


def test_sigkill_mid_run_keeps_the_old_run_leaves_no_process_and_the_next_run_cleans_up(
    setup, tmp_path
):
    data, long, short = setup
    out = tmp_path / "run"
    first = _run(["train", str(short), "--data", str(data), "--out", str(out)], out)
    assert first.returncode == 0, first.stderr
    old = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    proc = _start(long, data, out)
    try:
        workers = _workers(proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=_TIMEOUT)
        _wait(lambda: not any(_running(p) for p in workers), "the workers to die", 10.0)
    finally:
        proc.kill()
        proc.communicate()
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == old
    assert (tmp_path / f".run.partial-{proc.pid}").is_dir()  # what the next run must clean

    again = _run(["train", str(short), "--data", str(data), "--out", str(out), "--seed", "5"], out)
    assert again.returncode == 0, again.stderr
    assert f"nnforge: note: removed .run.partial-{proc.pid}" in again.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["run"]
    assert json.loads((out / "spec.json").read_text())["seed"] == 5


def test_a_worker_dies_with_its_parent_without_prctl(tmp_path):
    """The portable fallback (parent-pid watch) alone ends an orphaned worker."""
    script = (
        "import multiprocessing as mp, os, sys, time\n"
        "from nnforge.training.processes import die_with_parent\n"
        "def child(parent):\n"
        "    die_with_parent(parent, use_prctl=False)\n"
        "    time.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    p = mp.get_context('fork').Process(target=child, args=(os.getpid(),))\n"
        "    p.start()\n"
        "    print(p.pid, flush=True)\n"
        "    time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(proc.stdout.readline())
        assert _running(child)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=_TIMEOUT)
        _wait(lambda: not _running(child), "the orphaned worker to exit", 10.0)
    finally:
        proc.kill()
        proc.communicate()
