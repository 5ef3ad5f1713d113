"""The main job from the package alone: `nnforge demo`, a wheel in a fresh venv, no large files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from nnforge.cli import main
from nnforge.datasets import PACKAGED_KING_COUNTY
from nnforge.demos import EXAMPLES, example_spec
from nnforge.model import Model

ROOT = Path(__file__).resolve().parents[1]
# Files that may be larger than the limit, with their own bound: the packaged dataset only.
_LARGE_ALLOWED = {"src/nnforge/_datasets/kc_house_data.parquet": 2 * 2**20}
_LIMIT = 256 * 2**10


def _tracked_files() -> list[str]:
    if shutil.which("git") and (ROOT / ".git").exists():
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        return [name for name in out.decode().split("\0") if name]
    folders = ("src", "tests", "examples", "benchmarks", "docs", "tools")
    return [
        str(p.relative_to(ROOT))
        for folder in folders
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p)
    ]


def test_no_other_large_file_enters_the_repository():
    files = _tracked_files()
    assert "src/nnforge/examples/king_county.json" in files
    too_large = {
        name: (ROOT / name).stat().st_size
        for name in files
        if (ROOT / name).is_file()
        and (ROOT / name).stat().st_size > _LARGE_ALLOWED.get(name, _LIMIT)
    }
    assert too_large == {}


def test_every_example_spec_loads():
    for name in EXAMPLES:
        model = Model.from_json_file(example_spec(name))
        assert model.dataset.name == "kc_house_data"
    with pytest.raises(ValueError, match="unknown example"):
        example_spec("boston")


def test_demo_prints_the_spec(capsys):
    assert main(["demo", "king-county", "--print-spec"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(example_spec("king-county").read_text())


def test_demo_as_make_demo_runs_it(tmp_path, capsys):
    """`make demo` runs the demo with progress display (not --quiet): every step's options."""
    out = tmp_path / "kc"
    args = ["demo", "king-county", "--epochs", "2", "--folds", "2", "--workers", "1"]
    assert main([*args, "--shuffles", "1", "--out", str(out)]) == 0
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["summary"]["k"] == 2
    assert evaluation["summary"]["epochs"] == 2
    assert (out / "importance.csv").is_file()
    assert (out / "report.html").is_file()
    last = capsys.readouterr().out.strip().splitlines()[-1]  # where the time went, per step
    step = r"[\d.]+ s"
    want = rf"demo king-county: train {step} · importance {step} · report {step} · total {step}"
    assert re.fullmatch(want, last)


@pytest.mark.slow
def test_wheel_runs_the_demo_in_a_fresh_venv_outside_the_repository(tmp_path):
    """Build the wheel, install it (no deps, offline) into a new venv, run `nnforge demo`."""
    source = tmp_path / "source"  # a copy: the build leaves nothing in the repository
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(dist)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("nnforge-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies (numpy, polars, ...) come from this environment's site-packages, after
    # the venv's own; nnforge itself only from the wheel (an editable install's .pth files are
    # not read from a directory added this way).
    Path(site, "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    work = tmp_path / "work"  # no repository, no ../shared, no data folder here
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NNFORGE_", "PYTHON"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    where = subprocess.run(
        [python, "-c", "import nnforge, nnforge.datasets as d; print(nnforge.__file__); "
         "print(d.king_county_path())"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert all(Path(p).is_relative_to(venv) for p in where), where
    nnforge = venv / ("Scripts/nnforge.exe" if os.name == "nt" else "bin/nnforge")
    args = ["demo", "king-county", "--epochs", "2", "--folds", "2", "--shuffles", "1"]
    done = subprocess.run(
        [nnforge, *args, "--quiet", "--out", "kc"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (work / "kc" / "report.html").is_file()
    assert json.loads((work / "kc" / "evaluation.json").read_text())["summary"]["n_rows"] == 21613
    assert PACKAGED_KING_COUNTY.name in [p.name for p in venv.rglob("*.parquet")]
