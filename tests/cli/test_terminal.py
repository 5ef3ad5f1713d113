"""``nnforge train`` as a person sees it: driven in a pseudo-terminal, the screen read by a
terminal emulator (pexpect + pyte)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")  # the dev extra
pyte = pytest.importorskip("pyte")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from nnforge.cli.spec import starter_spec  # noqa: E402

NNFORGE = Path(sys.executable).with_name("nnforge")
ROWS = 40


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data file and a spec (3 folds, price in USD) long enough for many redraws."""
    work = tmp_path_factory.mktemp("terminal")
    rng = np.random.default_rng(0)
    size, rooms = rng.uniform(50, 300, 400), rng.integers(1, 6, 400)
    price = 1000 * size + 20000 * rooms + rng.normal(0, 5000, 400)
    pl.DataFrame({"size": size, "rooms": rooms, "price": price}).write_csv(work / "houses.csv")
    spec = json.loads(starter_spec(work / "houses.csv", "price", folds=3, epochs=400).to_json())
    spec["layers"] = [{"units": 16, "activation": "relu"}, {"units": 1, "activation": "linear"}]
    spec["dataset"]["features"]["price"]["unit"] = "USD"
    spec["early_stopping"] = None  # every fold runs every epoch: the bar must reach 100 %
    (work / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    return work


def _train_in_terminal(
    project: Path, columns: int, *args: str, spec: str = "spec.json", interrupt: bool = False
) -> tuple[int, list[str], bytes]:
    """Run ``nnforge train`` in a pty of ``columns`` x 40; return (exit code, screen, raw bytes)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env |= {"TERM": "xterm-256color", "XDG_CACHE_HOME": str(project / "cache")}
    argv = ["train", spec, "--data", "houses.csv", "--out", "run", "--workers", "1", *args]
    child = pexpect.spawn(
        str(NNFORGE), argv, cwd=str(project), env=env, dimensions=(ROWS, columns), timeout=240
    )
    screen = pyte.Screen(columns, ROWS)
    stream = pyte.ByteStream(screen)
    raw = b""
    while True:
        try:
            data = child.read_nonblocking(4096, timeout=240)
        except pexpect.EOF:
            break
        raw += data
        stream.feed(data)
        if interrupt and raw.count(b"%") >= 3:
            child.sendintr()  # Ctrl-C, as the terminal sends it
            interrupt = False
    child.close()
    lines = [line.rstrip() for line in screen.display if line.strip()]
    return child.exitstatus, lines, raw


def _progress_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if "━" in line or "%" in line]


@pytest.mark.parametrize("columns", [80, 200])
def test_train_keeps_one_progress_line_in_the_terminal(project: Path, columns: int) -> None:
    code, lines, raw = _train_in_terminal(project, columns)
    assert code == 0, "\n".join(lines)
    assert raw.count(b"%") > 3  # the line was redrawn several times...
    progress = _progress_lines(lines)
    assert len(progress) == 1, "\n".join(lines)  # ...in place: one line left on the screen
    assert all(len(line) <= columns for line in lines)
    assert "100%" in progress[0]
    assert "/s" in progress[0]  # fold-epochs per second
    assert "val R² 0." in progress[0]
    # what is trained is said before it starts; the summary says the units
    assert lines[0].startswith("training 3 folds x 400 epochs · 400 rows · 2 inputs")
    assert "→ price (USD)" in lines[0]
    assert any(line.startswith("out-of-fold R² on price (USD)") for line in lines)
    mae = next(line for line in lines if line.startswith("MAE"))
    assert mae.split()[-1].startswith("$")


def test_verbose_keeps_one_line_per_n_epochs(project: Path) -> None:
    code, lines, _ = _train_in_terminal(project, 120, "--verbose", "100")
    assert code == 0, "\n".join(lines)
    kept = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in kept] == ["100/400", "200/400", "300/400", "400/400"]
    assert all(" - R² 0." in line and " - MAE $" in line for line in kept)
    assert "a line every 100 epochs, means over the 3 folds" in " ".join(lines[:2])
    assert len(_progress_lines(lines)) == 1


def test_ctrl_c_says_interrupted_and_exits_non_zero(project: Path) -> None:
    spec = json.loads((project / "spec.json").read_text(encoding="utf-8"))
    spec["epochs"] = 100_000
    (project / "long.json").write_text(json.dumps(spec), encoding="utf-8")
    code, lines, _ = _train_in_terminal(
        project, 80, "--out", "long", spec="long.json", interrupt=True
    )
    assert code == 130, "\n".join(lines)
    assert any(line.startswith("status") and "INTERRUPTED" in line for line in lines)
    assert (project / "long" / "predictions.csv").is_file()


def test_early_stopping_still_ends_at_100_percent(project: Path) -> None:
    spec = json.loads((project / "spec.json").read_text(encoding="utf-8"))
    spec["early_stopping"] = {"patience": 2, "validation_fraction": 0.2}
    (project / "early.json").write_text(json.dumps(spec), encoding="utf-8")
    code, lines, _ = _train_in_terminal(project, 100, "--out", "early", spec="early.json")
    assert code == 0, "\n".join(lines)
    assert any("early_stopping after" in line for line in lines)
    (progress,) = _progress_lines(lines)
    assert "100%" in progress  # the epochs the folds did not run are taken off the total
