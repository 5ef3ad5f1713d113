"""The packaged Palmer penguins and the classification example built on them."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import polars as pl

from nnforge.cli import main
from nnforge.datasets import PENGUINS_PATH, penguins

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "penguins" / "spec.json"


def _cli(argv: list[str]) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(argv) == 0, err.getvalue()
    return out.getvalue()


def test_packaged_penguins_as_published():
    frame = penguins()
    assert frame.shape == (344, 8)
    counts = dict(frame["species"].value_counts().iter_rows())
    assert counts == {"Adelie": 152, "Chinstrap": 68, "Gentoo": 124}
    assert frame["bill_length_mm"].null_count() == 2
    assert frame["sex"].null_count() == 11
    assert PENGUINS_PATH.stat().st_size < 20_000
    source = PENGUINS_PATH.with_name("penguins.SOURCE.txt").read_text(encoding="utf-8")
    assert "CC0" in source
    assert "f204db2c753b0937caac3cb35258562c14f073e4bbc76be24b4c51ce22767a93" in source


def test_example_spec_is_what_spec_init_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    written = json.loads(_cli(["spec", "init", str(PENGUINS_PATH), "--target", "species"]))
    assert written == json.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_example_trains_without_a_data_path(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    out = _cli(["train", str(EXAMPLE), "--epochs", "40", "--folds", "3", "--out", "run", "--quiet"])
    accuracy = float(re.search(r"out-of-fold accuracy\s+([\d.]+)", out).group(1))
    assert accuracy > 0.95
    predictions = pl.read_csv(tmp_path / "run" / "predictions.csv")
    assert {"species_pred", "species_proba_Adelie", "fold"} <= set(predictions.columns)
