"""End-to-end tests of the ``nnforge`` command line on small data (in process, one subprocess)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nnforge._format import format_number
from nnforge.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Keep the derive cache of these runs out of the user's cache folder.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


def _synthetic(n: int, seed: int) -> pl.DataFrame:
    """Houses-like rows: unique id, a date, a category, coordinates and a numeric target."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(50, 300, n)
    rooms = rng.integers(1, 6, n)
    lat, lon = rng.uniform(47.2, 47.8, n), rng.uniform(-122.5, -121.8, n)
    kind = rng.choice(["flat", "house", "villa"], n)
    days = rng.integers(0, 365, n)
    price = 1000 * size + 20000 * rooms + 50000 * (kind == "villa") + rng.normal(0, 5000, n)
    return pl.DataFrame(
        {
            "id": np.arange(1000, 1000 + n),
            "date": [f"2014-{1 + d // 31:02d}-{1 + d % 28:02d}" for d in days],
            "size": size,
            "rooms": rooms,
            "kind": kind,
            "lat": lat,
            "long": lon,
            "price": price,
        }
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def data_csv(work: Path) -> Path:
    path = work / "houses.csv"
    _synthetic(300, seed=0).write_csv(path)
    return path


@pytest.fixture(scope="module")
def spec_json(work: Path, data_csv: Path) -> Path:
    """``spec init`` output, shrunk to 2 folds, 3 epochs and small layers."""
    out = _run_ok(["spec", "init", str(data_csv), "--target", "price"])
    spec = json.loads(out)
    spec.update(epochs=3, trainer={"name": "kfolds", "k": 2}, batch_size=32)
    spec["layers"] = [{"units": 8, "activation": "relu"}, {"units": 1, "activation": "linear"}]
    path = work / "small.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_dir(work: Path, spec_json: Path, data_csv: Path) -> Path:
    out = work / "runs" / "small"
    args = ["train", str(spec_json), "--data", str(data_csv), "--out", str(out)]
    _run_ok([*args, "--workers", "1", "--quiet"])
    return out


def _run_ok(argv: list[str]) -> str:
    """Run the CLI in process, assert exit code 0 and return its stdout."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    assert code == 0, stderr.getvalue()
    return stdout.getvalue()


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    """Run the CLI, expect exit 1 with a one-line error plus hint and no traceback."""
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith("nnforge: error: ")
    assert lines[-1].startswith("hint: ")
    assert len(lines) == 2, err
    for needle in needles:
        assert needle in err
    return err


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")


def _parse_html(path: Path) -> _Html:
    parser = _Html()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_SIGNATURE)
    return parser


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_SIGNATURE


# -- help --------------------------------------------------------------------------------------

COMMANDS = ("spec", "train", "predict", "importance", "report", "compare", "xor")


def test_console_script_help_lists_every_command() -> None:
    script = Path(sys.executable).with_name("nnforge")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "nnforge.cli"]
    done = subprocess.run([*cmd, "--help"], capture_output=True, text=True, check=True)
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\b", done.stdout, re.MULTILINE), name


@pytest.mark.parametrize("name", [*COMMANDS, "spec init", "spec check"])
def test_every_command_help_has_an_example(capsys: pytest.CaptureFixture[str], name: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*name.split(), "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert f"nnforge {name.split()[0]} " in out


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("name", ["", *COMMANDS, "spec init", "spec check", "data"])
def test_help_fits_the_terminal_width(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str, columns: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    with pytest.raises(SystemExit):
        main([*name.split(), "--help"])
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= columns
    assert not re.search(r"[a-z]-$", out, re.MULTILINE)  # no word cut at a hyphen


# -- spec --------------------------------------------------------------------------------------


def test_spec_init_lists_every_column_with_its_type(data_csv: Path) -> None:
    spec = json.loads(_run_ok(["spec", "init", str(data_csv), "--target", "price"]))
    features = spec["dataset"]["features"]
    assert list(features) == ["id", "date", "size", "rooms", "kind", "lat", "long", "price"]
    assert {k: f["dtype"] for k, f in features.items()} == {
        "id": "int",
        "date": "str",
        "size": "float",
        "rooms": "int",
        "kind": "str",
        "lat": "float",
        "long": "float",
        "price": "float",
    }
    assert features["price"]["output"] is True
    assert features["id"]["is_id"] is True
    assert features["date"]["date_format"] == "%Y-%m-%d"
    assert "one_hot" in features["kind"]
    assert [layer["units"] for layer in spec["layers"]] == [32, 32, 1]  # inputs+1, at least 32
    assert spec["layers"][-1]["activation"] == "linear"
    assert spec["optimizer"]["name"] == "adam"
    assert spec["trainer"] == {"name": "kfolds", "k": 5}
    # sized to the 300 rows (see test_classification_cli for the sizing), early stopping on
    assert (spec["batch_size"], spec["epochs"]) == (16, 500)
    assert spec["early_stopping"]["patience"] == 50


def test_spec_init_without_target_notes_it(
    capsys: pytest.CaptureFixture[str], data_csv: Path
) -> None:
    assert main(["spec", "init", str(data_csv)]) == 0
    captured = capsys.readouterr()
    assert not any(
        f.get("output") for f in json.loads(captured.out)["dataset"]["features"].values()
    )
    assert "no --target" in captured.err


def test_spec_check(capsys: pytest.CaptureFixture[str], spec_json: Path, work: Path) -> None:
    assert main(["spec", "check", str(spec_json)]) == 0
    out = capsys.readouterr().out
    assert "price" in out
    assert "output" in out
    assert out.strip().endswith(": ok")
    # the model block: every part named, values in one aligned column
    model = out[out.index("\nmodel\n") + 7 :].splitlines()[:-1]
    names = ["network", "loss", "optimizer", "schedule", "clipping", "trainer", "early stopping"]
    assert [line.split("  ")[1].strip() for line in model][: len(names)] == names
    assert len({len(line) - len(line[16:].lstrip()) for line in model}) == 1
    assert "  network         8 relu -> 1 linear" in model
    assert "  trainer         2 folds x 3 epochs, batch 32" in model
    # the dataset table: the type column starts at the same place on every line
    table = out[: out.index("\nmodel\n")].splitlines()[1:]
    starts = {line.index(" str ") if " str " in line else None for line in table} - {None}
    assert len(starts) == 1
    no_target = json.loads(spec_json.read_text(encoding="utf-8"))
    no_target["dataset"]["features"]["price"].pop("output")
    path = work / "no_target.json"
    path.write_text(json.dumps(no_target), encoding="utf-8")
    _fails(capsys, ["spec", "check", str(path)], "no output feature")


def test_spec_init_on_king_county_sample(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    from nnforge.datasets import king_county

    sample = work / "kc_house_data.csv"
    king_county().sample(400, seed=0).write_csv(sample)
    spec = json.loads(_run_ok(["spec", "init", str(sample), "--target", "price"]))
    assert spec["dataset"]["name"] == "kc_house_data"
    assert len(spec["dataset"]["features"]) == 21
    assert spec["dataset"]["features"]["date"]["date_format"] == "%Y%m%dT%H%M%S"
    spec.update(epochs=2, trainer={"name": "kfolds", "k": 2})
    spec["layers"] = [{"units": 4}, {"units": 1, "activation": "linear"}]
    (work / "kc.json").write_text(json.dumps(spec), encoding="utf-8")
    # No --data: a kc_house_data spec finds the King County file ($NNFORGE_DATA_DIR here).
    out = work / "runs" / "kc"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNFORGE_DATA_DIR", str(work))
        assert main(["train", str(work / "kc.json"), "--out", str(out), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "fold 1" in captured.err  # the progress bar (default) reports on stderr
    assert "out-of-fold R²" in captured.out
    predictions = pl.read_csv(out / "predictions.csv")
    assert predictions.height == 400


# -- train -------------------------------------------------------------------------------------


def test_train_writes_run_dir_and_prints_summary(run_dir: Path) -> None:
    for name in ("spec.json", "evaluation.json", "history.csv", "predictions.csv", "log.txt"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "pipelines" / "fold_1.json").is_file()
    evaluation = json.loads((run_dir / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["summary"]["k"] == 2
    assert evaluation["summary"]["epochs"] == 3
    history = pl.read_csv(run_dir / "history.csv")
    assert history.height == 2 * 3
    assert {"fold", "epoch", "train_loss", "val_loss", "r2"} <= set(history.columns)


def test_train_overrides_default_out_and_summary(
    work: Path, spec_json: Path, data_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(work)
    argv = ["train", str(spec_json), "--data", str(data_csv), "--epochs", "2", "--folds", "3"]
    out = _run_ok([*argv, "--seed", "4", "--workers", "1", "--quiet"])
    for label in ("out-of-fold R²", "fold R²", "best fold R²", "MAE", "wall time", "run dir"):
        assert label in out
    assert "(3 folds)" in out
    runs = sorted((work / "runs").glob("small-*"))
    assert len(runs) == 1
    assert re.fullmatch(r"small-\d{8}-\d{6}", runs[0].name)
    assert str(Path("runs") / runs[0].name) in out
    spec = json.loads((runs[0] / "spec.json").read_text(encoding="utf-8"))
    assert (spec["epochs"], spec["trainer"]["k"], spec["seed"]) == (2, 3, 4)


def test_summary_table_for_a_split_run() -> None:
    from nnforge.cli.train import summary_table

    summary = {"trainer": "split", "k": 1, "oof_r2": 0.5, "oof_mae": 12.0, "n_rows": 10}
    table = summary_table(summary, Path("runs/x"))
    assert "validation R²  0.5\n" in table
    assert "fold R²" not in table
    assert table.endswith("run dir        runs/x")
    summary |= {"target": "price", "oof_mae": 64132.4, "interrupted": True}
    table = summary_table(summary, Path("runs/x"), "USD")
    assert "validation R² on price (USD)  0.5\n" in table
    assert re.search(r"^MAE +\$64,132$", table, re.M)
    assert re.search(r"^status +INTERRUPTED", table, re.M)


# -- predict -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_writes_predictions(run_dir: Path, work: Path, suffix: str) -> None:
    new = work / "new.csv"
    _synthetic(20, seed=1).drop("price").write_csv(new)
    out = work / f"pred{suffix}"
    _run_ok(["predict", str(run_dir), "--data", str(new), "--out", str(out)])
    frame = pl.read_csv(out) if suffix == ".csv" else pl.read_parquet(out)
    assert frame.height == 20
    assert {"id", "size", "price_pred", "price_pred_std"} <= set(frame.columns)
    assert frame["price_pred"].is_finite().all()
    assert not list(work.glob(".pred*.tmp"))


def test_predict_one_fold(run_dir: Path, work: Path, data_csv: Path) -> None:
    out = work / "fold1.csv"
    _run_ok(["predict", str(run_dir), "--data", str(data_csv), "--out", str(out), "--fold", "1"])
    frame = pl.read_csv(out)
    assert "price_pred" in frame.columns
    assert "price_pred_std" not in frame.columns


# -- importance, report, compare, xor ----------------------------------------------------------


def test_importance(run_dir: Path) -> None:
    out = _run_ok(["importance", str(run_dir), "--shuffles", "2", "--seed", "1"])
    assert "source column" in out
    assert "relative %" in out
    groups = pl.read_csv(run_dir / "importance_groups.csv")
    assert {"feature", "importance", "importance_std", "relative"} <= set(groups.columns)
    assert set(groups["feature"]) == {"date", "size", "rooms", "kind", "lat", "long"}
    features = pl.read_csv(run_dir / "importance.csv")
    assert "kind_villa" in set(features["feature"])
    assert _is_png(run_dir / "importance.png")


def test_report(run_dir: Path, work: Path) -> None:
    out = _run_ok(["report", str(run_dir)])
    assert out.strip() == str(run_dir / "report.html")
    parsed = _parse_html(run_dir / "report.html")
    assert parsed.images
    assert "table" in parsed.tags
    pngs = list((run_dir / "plots").glob("*.png"))
    assert {"loss.png", "r2.png", "predicted_vs_true.png"} <= {p.name for p in pngs}
    assert all(_is_png(p) for p in pngs)
    custom = work / "elsewhere" / "r.html"
    _run_ok(["report", str(run_dir), "--out", str(custom)])
    _parse_html(custom)


def test_compare(run_dir: Path, work: Path, spec_json: Path, data_csv: Path) -> None:
    other = work / "runs" / "other"
    argv = ["train", str(spec_json), "--data", str(data_csv), "--out", str(other), "--seed", "2"]
    _run_ok([*argv, "--workers", "1", "--quiet"])
    out_dir = work / "cmp"
    out = _run_ok(["compare", str(run_dir), str(other), "--out", str(out_dir)])
    assert "small" in out
    assert "other" in out
    assert "OOF R²" in out
    table = pl.read_csv(out_dir / "compare.csv")
    assert table["run"].to_list() == ["small", "other"]
    assert {"oof_r2", "mean_fold_r2", "std_fold_r2", "best_fold_r2", "oof_mae"} <= set(
        table.columns
    )
    assert _is_png(out_dir / "train_loss.png")  # the seed's figures 11, 17, 18
    assert _is_png(out_dir / "loss.png")
    assert _is_png(out_dir / "r2.png")
    assert len(_parse_html(out_dir / "compare.html").images) == 3
    # the only difference between the two specs is the seed: said in the terminal and the page
    assert "the specs differ in: seed" in out
    page = (out_dir / "compare.html").read_text(encoding="utf-8")
    diff = page[page.index("How the specs differ") : page.index("Curves")]
    assert re.findall(r"<tr>.*?</tr>", diff)[1:] == [
        '<tr><td class="text">seed</td><td class="text">0</td><td class="text">2</td></tr>'
    ]


def test_compare_shows_the_mae_in_the_targets_unit(
    houses_run: Path, run_dir: Path, tmp_path: Path
) -> None:
    other = shutil.copytree(houses_run, tmp_path / "again")  # the same price in USD
    mae = json.loads((houses_run / "evaluation.json").read_text())["summary"]["oof_mae"]
    dollars = f"${mae:,.0f}"  # what the report's headline shows, not 23456.78
    out = _run_ok(["compare", str(houses_run), str(other), "--out", str(tmp_path / "usd")])
    page = (tmp_path / "usd" / "compare.html").read_text(encoding="utf-8")
    summary = page[page.index("<h2>Summary</h2>") : page.index("How the specs differ")]
    assert summary.count(f">{dollars}</td>") == 2
    assert out.count(dollars) == 2
    # runs whose targets have different units (USD, none): plain numbers, never a wrong unit
    _run_ok(["compare", str(houses_run), str(run_dir), "--out", str(tmp_path / "mixed")])
    mixed = (tmp_path / "mixed" / "compare.html").read_text(encoding="utf-8")
    assert f">{dollars}</td>" not in mixed
    assert f">{format_number(mae)}</td>" in mixed


def test_xor_plot(work: Path) -> None:
    path = work / "xor.png"
    out = _run_ok(["xor", "--epochs", "50", "--every", "50", "--plot", str(path)])
    assert "surface plot" in out
    assert _is_png(path)
    assert _is_png(work / "xor_decay.png")  # the seed's figures 4 and 5
    assert _is_png(work / "xor_dropout.png")


# -- errors ------------------------------------------------------------------------------------


def test_missing_run_directory(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    missing = str(work / "no-such-run")
    new = str(work / "new.csv")
    _fails(capsys, ["predict", missing, "--data", new, "--out", "p.csv"], "not found")
    _fails(capsys, ["importance", missing], "run directory")
    _fails(capsys, ["report", missing], "run directory")
    _fails(capsys, ["compare", missing, missing], "run directory")
    _fails(capsys, ["report", str(work)], "not a run directory")


def test_spec_with_errors_names_json_path(
    capsys: pytest.CaptureFixture[str], work: Path, spec_json: Path, data_csv: Path
) -> None:
    bad = json.loads(spec_json.read_text(encoding="utf-8"))
    bad["layers"][0]["units"] = -3
    bad["epochs"] = 0
    path = work / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    err = _fails(capsys, ["train", str(path), "--data", str(data_csv)], "layers[0].units", "epochs")
    assert "bad.json" in err
    _fails(capsys, ["train", str(work / "absent.json")], "spec file", "not found")
    (work / "broken.json").write_text("{", encoding="utf-8")
    _fails(capsys, ["spec", "check", str(work / "broken.json")], "invalid spec")


def test_wrong_and_missing_data_files(
    capsys: pytest.CaptureFixture[str], work: Path, spec_json: Path, run_dir: Path
) -> None:
    wrong = work / "wrong.csv"
    _synthetic(30, seed=2).drop("rooms").write_csv(wrong)
    _fails(capsys, ["train", str(spec_json), "--data", str(wrong), "--quiet"], "rooms", "wrong.csv")
    argv = ["predict", str(run_dir), "--data", str(wrong), "--out", str(work / "p.csv")]
    _fails(capsys, argv, "rooms")
    assert not (work / "p.csv").exists()
    _fails(capsys, ["train", str(spec_json), "--data", str(work / "nope.csv")], "not found")
    _fails(capsys, ["train", str(spec_json)], "--data")  # dataset `houses` has no default file
    _fails(capsys, ["spec", "init", str(work / "nope.csv")], "nope.csv")


def test_bad_arguments(capsys: pytest.CaptureFixture[str], work: Path, run_dir: Path) -> None:
    new = str(work / "new.csv")
    _fails(capsys, ["predict", str(run_dir), "--data", new, "--out", "p.txt"], ".csv or .parquet")
    argv = ["predict", str(run_dir), "--data", new, "--out", str(work / "p.csv"), "--fold", "7"]
    _fails(capsys, argv, "--fold")
    _fails(capsys, ["compare", str(run_dir)], "at least two")
    _fails(capsys, ["spec", "init", new, "--target", "nope"], "nope")
    spec = str(work / "small.json")
    for argv in (
        ["train", spec, "--epochs", "0"],
        ["train", spec, "--folds", "1"],
        ["spec", "init", new, "--folds", "1"],
    ):
        with pytest.raises(SystemExit) as exc:  # argparse: usage + message, exit 2
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert "error: argument --" in err


def test_debug_shows_traceback(work: Path) -> None:
    with pytest.raises(Exception, match="not found"):
        main(["--debug", "report", str(work / "no-such-run")])
