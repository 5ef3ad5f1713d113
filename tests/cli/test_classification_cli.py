"""Classification through the command line, and specs that cannot train caught by `spec check`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from test_cli import _fails, _isolated_cache, _run_ok  # noqa: F401 (a fixture)

from nnforge.exceptions import DataError


def _flowers(n: int, seed: int) -> pl.DataFrame:
    """Iris-like rows: three species told apart by two measurements, one of them noisy."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, n)
    petal = np.array([1.5, 4.3, 5.6])[kind] + rng.normal(0, 0.3, n)
    sepal = np.array([5.0, 5.9, 6.6])[kind] + rng.normal(0, 0.4, n)
    species = np.array(["setosa", "versicolor", "virginica"])[kind]
    return pl.DataFrame({"petal": petal, "sepal": sepal, "species": species})


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cls")
    _flowers(240, 0).write_csv(path / "flowers.csv")
    return path


def _hand_spec(work: Path, name: str, **changes) -> Path:
    spec = {
        "dataset": {
            "name": "flowers",
            "features": {
                "petal": {"scale": "minmax"},
                "sepal": {"scale": "minmax"},
                "species": {"output": True, "classes": {}},
            },
        },
        "layers": [{"units": 8, "activation": "relu"}, {"units": 3, "activation": "softmax"}],
        "loss": "categorical_crossentropy",
        "batch_size": 16,
        "epochs": 4,
        "trainer": {"name": "kfolds", "k": 3},
        "data": "flowers.csv",
    }
    spec.update(changes)
    path = work / f"{name}.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def test_spec_data_relative_to_the_spec_means_no_data_flag(work, tmp_path, monkeypatch):
    spec = _hand_spec(work, "relative")
    monkeypatch.chdir(tmp_path)  # the data path is relative to the spec, not to the cwd
    out = _run_ok(["train", str(spec), "--out", str(tmp_path / "run"), "--quiet"])
    assert "out-of-fold accuracy" in out
    assert "classes" in out


def test_last_layer_units_against_the_data_classes(work, capsys):
    bad = _hand_spec(
        work,
        "two_units",
        layers=[{"units": 8, "activation": "relu"}, {"units": 2, "activation": "softmax"}],
    )
    _fails(capsys, ["spec", "check", str(bad)], "layers[1].units", "3 classes")
    _fails(capsys, ["train", str(bad), "--quiet"], "layers[1].units", "3 classes")


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"layers": [{"units": 1, "activation": "softmax"}]}, "layers[0].activation"),
        ({"loss": "binary_crossentropy"}, "loss: the class target"),
        ({"loss": "mse"}, "loss: the class target"),
        ({"metric": "r2"}, "metric:"),
    ],
)
def test_heads_that_cannot_train_fail_at_spec_check(work, capsys, changes, needle):
    bad = _hand_spec(work, "bad", **changes)
    _fails(capsys, ["spec", "check", str(bad)], needle)


def test_binary_crossentropy_on_a_target_outside_0_1(work, capsys):
    frame = _flowers(60, 1).with_columns(pl.col("petal").alias("y")).drop("species")
    frame.write_csv(work / "numeric.csv")
    spec = _hand_spec(
        work,
        "bce",
        dataset={"features": {"sepal": {"scale": "minmax"}, "y": {"output": True}}},
        layers=[{"units": 4, "activation": "relu"}, {"units": 1, "activation": "sigmoid"}],
        loss="binary_crossentropy",
        data="numeric.csv",
    )
    _fails(
        capsys, ["spec", "check", str(spec)], "loss: binary_crossentropy needs targets in [0, 1]"
    )
    zscored = _hand_spec(
        work,
        "bce_z",
        dataset={"features": {"sepal": {}, "y": {"output": True, "scale": "zscore"}}},
        layers=[{"units": 1, "activation": "sigmoid"}],
        loss="binary_crossentropy",
    )
    _fails(capsys, ["spec", "check", str(zscored)], "z-scored")
    cce = _hand_spec(
        work,
        "cce_z",
        dataset={"features": {"sepal": {}, "y": {"output": True, "scale": "zscore"}}},
        layers=[{"units": 1, "activation": "linear"}],
        loss="categorical_crossentropy",
    )
    _fails(capsys, ["spec", "check", str(cce)], "categorical_crossentropy needs one-hot")


def test_an_error_in_a_worker_is_the_same_one_line_error(work, capsys, monkeypatch):
    from nnforge.training import trainers, workers

    def broken(*args, **kwargs):
        raise DataError("column `petal` broke in the worker")

    for module in (trainers, workers):  # the in-process group, and the worker processes' groups
        monkeypatch.setattr(module, "train_replicas", broken)
    spec = _hand_spec(work, "worker")
    errors = [
        _fails(capsys, ["train", str(spec), "--quiet", "--workers", workers])
        for workers in ("1", "2")
    ]
    assert errors[0] == errors[1]
    assert errors[0].splitlines()[0].endswith("flowers.csv: column `petal` broke in the worker")


# -- spec init ---------------------------------------------------------------------------------


def _init(capsys, argv: list[str]) -> tuple[dict, str]:
    capsys.readouterr()
    from nnforge.cli import main

    assert main(["spec", "init", *argv]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_spec_init_detects_string_classes_and_writes_the_head(work, capsys):
    spec, err = _init(capsys, [str(work / "flowers.csv"), "--target", "species"])
    target = spec["dataset"]["features"]["species"]
    assert target["output"] is True
    assert target["classes"]["labels"] == ["setosa", "versicolor", "virginica"]
    assert spec["layers"][-1] == {**spec["layers"][-1], "units": 3, "activation": "softmax"}
    assert spec["loss"] == "categorical_crossentropy"
    assert spec["metric"] == "log_loss"
    assert spec["early_stopping"]["patience"] >= 20
    assert "classification, 3 classes" in err
    assert "sized for 240 rows: batch 16" in err


def test_spec_init_few_integers_are_classes_unless_told(work, capsys):
    frame = _flowers(100, 2).with_columns(
        (pl.col("species") == "virginica").cast(pl.Int64).alias("virginica")
    )
    frame.drop("species").write_csv(work / "binary.csv")
    spec, _ = _init(capsys, [str(work / "binary.csv"), "--target", "virginica"])
    assert spec["dataset"]["features"]["virginica"]["classes"]["labels"] == [0, 1]
    assert spec["layers"][-1]["units"] == 1
    assert spec["layers"][-1]["activation"] == "sigmoid"
    assert spec["loss"] == "binary_crossentropy"
    spec, err = _init(
        capsys, [str(work / "binary.csv"), "--target", "virginica", "--task", "regression"]
    )
    assert "classes" not in spec["dataset"]["features"]["virginica"]
    assert spec["loss"] == "mse"
    assert "regression" in err
    spec, _ = _init(capsys, [str(work / "flowers.csv"), "--target", "petal"])  # floats
    assert spec["loss"] == "mse"


def test_sizing_follows_the_rows():
    from nnforge.cli.spec import size_training

    small, large = size_training(150, 5), size_training(21_613, 8)
    assert (small.batch_size, small.epochs, small.patience) == (8, 500, 50)
    assert large.batch_size == 128
    assert 50 <= large.epochs < small.epochs
    assert size_training(150, 5, epochs=40).epochs == 40


def test_a_repeated_target_is_an_error(work, capsys):
    from nnforge.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["spec", "init", str(work / "flowers.csv"), "--target", "petal", "--target", "sepal"])
    assert exc.value.code == 2
    assert "--target given twice" in capsys.readouterr().err


def test_init_train_predict_a_three_class_table(work, tmp_path, capsys):
    spec, _ = _init(capsys, [str(work / "flowers.csv"), "--target", "species"])
    spec["epochs"] = 60  # keep the test short; the rest is spec init's
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    data = str(work / "flowers.csv")
    out = _run_ok(
        ["train", str(path), "--data", data, "--folds", "3", "--out", str(tmp_path / "r")]
    )
    accuracy = float(re.search(r"out-of-fold accuracy\s+([\d.]+)", out).group(1))
    assert accuracy > 0.9
    _run_ok(["predict", str(tmp_path / "r"), "--data", data, "--out", str(tmp_path / "p.csv")])
    predicted = pl.read_csv(tmp_path / "p.csv")
    proba = [f"species_proba_{s}" for s in ("setosa", "versicolor", "virginica")]
    assert set(proba) <= set(predicted.columns)
    np.testing.assert_allclose(predicted.select(proba).to_numpy().sum(axis=1), 1.0)
    agree = (predicted["species_pred"] == predicted["species"]).mean()
    assert agree > 0.9


def test_compare_a_classification_run_with_a_regression_run(work, tmp_path, capsys):
    """Each figure overlays the runs that have its metric; each table column shows if some run
    has it (a regression and a class run used to fail on the missing `r2` history column)."""
    data = str(work / "flowers.csv")
    runs = []
    for target in ("species", "petal"):
        spec, _ = _init(capsys, [data, "--target", target])
        spec["epochs"] = 3
        path = tmp_path / f"{target}.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        runs.append(str(tmp_path / target))
        _run_ok(["train", str(path), "--data", data, "--folds", "2", "--out", runs[-1], "--quiet"])
    out = _run_ok(["compare", *runs, "--out", str(tmp_path / "cmp")])
    header = next(line for line in out.splitlines() if line.lstrip().startswith("run"))
    assert "OOF R²" in header
    assert "OOF accuracy" in header
    for figure in ("train_loss", "loss", "r2", "accuracy"):
        assert (tmp_path / "cmp" / f"{figure}.png").is_file()
    page = (tmp_path / "cmp" / "compare.html").read_text(encoding="utf-8")
    assert page.count("<img") == 4
    # two class runs: no R² column, no R² figure
    _run_ok(["compare", runs[0], runs[0], "--out", str(tmp_path / "cls")])
    assert not (tmp_path / "cls" / "r2.png").exists()
    assert "R²" not in (tmp_path / "cls" / "compare.html").read_text(encoding="utf-8")
