"""The command line never loses a user's file, and damaged inputs fail with a short error."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nnforge.cli import main
from nnforge.cli._common import is_figure_file
from nnforge.cli.report import _is_report


@pytest.fixture(scope="module", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


def _frame(n: int = 120, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0, 1, (2, n))
    return pl.DataFrame({"a": a, "b": b, "y": 100 + 30 * a - 10 * b + rng.normal(0, 1, n)})


def _spec(features: dict | None = None, **dataset) -> dict:
    feature = {"scale": "minmax"}
    return {
        "dataset": {
            "name": "t",
            "features": features or {"a": feature, "b": feature, "y": {**feature, "output": True}},
            **dataset,
        },
        "layers": [{"units": 4}, {"units": 1, "activation": "linear"}],
        "batch_size": 32,
        "epochs": 2,
        "trainer": {"name": "kfolds", "k": 2},
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reliability")
    _frame().write_csv(path / "data.csv")
    (path / "spec.json").write_text(json.dumps(_spec()))
    return path


@pytest.fixture(scope="module")
def run_dir(work: Path) -> Path:
    out = work / "run"
    assert main(["train", str(work / "spec.json"), "--data", str(work / "data.csv"),
                 "--out", str(out), "--quiet", "--workers", "1"]) == 0  # fmt: skip
    return out


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    """Exit 1 with one error line and one hint line; the needles appear in them."""
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("nnforge: error: ")
    assert lines[1].startswith("hint: ")
    for needle in needles:
        assert needle in err, err
    return err


def _snapshot(path: Path) -> list[tuple[str, bytes | None]]:
    return sorted(
        (str(p.relative_to(path)), p.read_bytes() if p.is_file() else None) for p in path.rglob("*")
    )


# -- 1. --out never replaces what is not ours --------------------------------------------------


def test_train_refuses_a_folder_with_a_users_files(capsys, work, tmp_path):
    out = tmp_path / "x"
    (out / "sub").mkdir(parents=True)
    (out / "thesis.txt").write_text("draft")
    before = _snapshot(tmp_path)
    argv = ["train", work / "spec.json", "--data", work / "data.csv", "--out", out]
    _fails(capsys, argv, "is not an nnforge run directory", "thesis.txt", "hint: choose a new")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("out", ["file", "."])
def test_train_refuses_a_file_or_the_current_folder(capsys, work, tmp_path, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("mine")
    before = _snapshot(tmp_path)
    argv = ["train", work / "spec.json", "--data", work / "data.csv", "--out", out]
    _fails(capsys, argv, "nothing was written" if out == "file" else "current folder")
    assert _snapshot(tmp_path) == before


def test_predict_report_compare_and_xor_never_overwrite_a_users_file(
    capsys, work, run_dir, tmp_path
):
    mine = tmp_path / "mine.csv"
    mine.write_text("a,b\n1,2\n")
    html = tmp_path / "page.html"
    html.write_text("<html>my page</html>")
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nnot a figure of ours")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "thesis.txt").write_text("draft")
    before = _snapshot(tmp_path)
    data = work / "data.csv"
    _fails(capsys, ["predict", run_dir, "--data", data, "--out", mine], "not written by nnforge")
    _fails(capsys, ["predict", run_dir, "--data", data, "--out", folder], "must end in .csv")
    _fails(capsys, ["report", run_dir, "--out", html], "not written by nnforge")
    _fails(capsys, ["compare", run_dir, run_dir, "--out", folder], "thesis.txt")
    _fails(capsys, ["xor", "--epochs", "1", "--plot", png], "not written by nnforge")
    assert _snapshot(tmp_path) == before


def test_outputs_written_by_nnforge_are_replaced(capsys, work, run_dir, tmp_path):
    preds = tmp_path / "p.csv"
    for _ in range(2):
        assert main(["predict", str(run_dir), "--data", str(work / "data.csv"),
                     "--out", str(preds)]) == 0  # fmt: skip
    report = tmp_path / "r.html"
    assert main(["report", str(run_dir), "--out", str(report)]) == 0
    assert _is_report(report)  # so a second `report --out` replaces it (one report is slow)
    compare = tmp_path / "cmp"
    for _ in range(2):
        assert main(["compare", str(run_dir), str(run_dir), "--out", str(compare)]) == 0
    png = tmp_path / "xor.png"
    assert main(["xor", "--epochs", "1", "--plot", str(png)]) == 0
    assert is_figure_file(png)
    again = tmp_path / "run"
    shutil.copytree(run_dir, again)
    argv = ["train", str(work / "spec.json"), "--data", str(work / "data.csv")]
    assert main([*argv, "--out", str(again), "--quiet", "--seed", "4"]) == 0
    assert json.loads((again / "spec.json").read_text())["seed"] == 4
