"""Run-directory ownership: what ``out_dir`` may replace, the lock, staging leftovers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from training_problem import make_frame, make_model

from nnforge.training import train
from nnforge.training.rundir import (
    RunDirBusyError,
    RunDirError,
    check_replaceable,
    claim_run_dir,
    is_run_dir,
)


def _dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _tree(path):
    return sorted(
        (str(p.relative_to(path)), p.read_bytes() if p.is_file() else None) for p in path.rglob("*")
    )


def test_a_folder_with_user_files_is_refused_before_training(tmp_path):
    out = tmp_path / "x"
    (out / "sub").mkdir(parents=True)
    (out / "thesis.txt").write_text("draft")
    before = _tree(out)
    # The data path does not exist: the refusal must come first, before any data is read.
    with pytest.raises(RunDirError, match=r"not an nnforge run directory.*thesis\.txt"):
        train(make_model(), tmp_path / "missing.csv", out_dir=out, progress=False)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]  # no lock, no staging


def test_a_regular_file_is_refused_and_kept(tmp_path):
    out = tmp_path / "results"
    out.write_text("my numbers")
    with pytest.raises(RunDirError, match="is a file"):
        train(make_model(), make_frame(), out_dir=out, progress=False)
    assert out.read_text() == "my numbers"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_the_current_folder_and_its_parents_are_refused(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for out in (".", "..", str(work)):
        with pytest.raises(RunDirError, match="current folder"):
            check_replaceable(out)


def test_a_run_holding_a_users_file_is_not_replaced(tmp_path):
    out = tmp_path / "run"
    train(make_model(epochs=2), make_frame(), out_dir=out, progress=False)
    (out / "notes.md").write_text("keep me")
    with pytest.raises(RunDirError, match=r"notes\.md"):
        train(make_model(epochs=2), make_frame(), out_dir=out, progress=False)
    assert (out / "notes.md").read_text() == "keep me"


def test_an_earlier_run_or_an_empty_folder_is_replaced(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    train(make_model(epochs=2), make_frame(), out_dir=out, progress=False)
    assert is_run_dir(out)
    (out / "report.html").write_text("<html>")  # what `nnforge report` adds is ours too
    train(make_model(epochs=3), make_frame(), out_dir=out, progress=False)
    assert not (out / "report.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no lock, staging, old run


def test_a_second_claim_is_refused_while_the_first_holds_the_lock(tmp_path):
    out = tmp_path / "run"
    with claim_run_dir(out):
        lock = tmp_path / ".run.lock"
        assert lock.read_text().strip() == str(os.getpid())
        with pytest.raises(RunDirBusyError, match=f"PID {os.getpid()}"):
            train(make_model(epochs=2), make_frame(), out_dir=out, progress=False)
    assert not lock.exists()
    with claim_run_dir(out):  # released: free again
        pass


def test_a_stale_lock_file_of_a_dead_process_does_not_block(tmp_path):
    (tmp_path / ".run.lock").write_text(f"{_dead_pid()}\n")
    train(make_model(epochs=2), make_frame(), out_dir=tmp_path / "run", progress=False)
    assert is_run_dir(tmp_path / "run")


def test_leftovers_of_dead_trainings_are_removed_or_restored(tmp_path, caplog):
    dead = _dead_pid()
    partial = tmp_path / f".run.partial-{dead}"
    (partial / "models").mkdir(parents=True)
    old = tmp_path / f".run.old-{dead}"  # died between moving the old run away and the rename
    old.mkdir()
    for name in ("spec.json", "evaluation.json"):
        (old / name).write_text("{}")
    alive = tmp_path / f".run.partial-{os.getppid()}"  # a live process: reported, not touched
    alive.mkdir()
    out = tmp_path / "run"
    with caplog.at_level("INFO", logger="nnforge"), claim_run_dir(out):
        assert (out / "spec.json").is_file()  # the old run is back in place
    assert not partial.exists()
    assert not old.exists()
    assert alive.exists()
    text = caplog.text
    assert f"removed .run.partial-{dead}" in text
    assert f"restored the previous run {out}" in text
    assert f"process {os.getppid()} that wrote it is still running" in text
