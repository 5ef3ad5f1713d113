"""Wrong results never leave with exit code 0: damaged runs, overflowing values, absurd edits."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import polars as pl
import pytest
from training_problem import make_frame, make_model

from nnforge.cli import main
from nnforge.data import AddSquared, DatasetSpec, Out
from nnforge.exceptions import DataError, DivergenceError
from nnforge.training import Run, train
from nnforge.training.evaluation import check_finite_summary
from nnforge.training.rundir import RunDirDamagedError


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("damaged") / "run"
    train(make_model(epochs=3), make_frame(200), out_dir=out, progress=False)
    return out


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def _cli_fails(capsys, argv: list[str], *needles: str) -> str:
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    for needle in needles:
        assert needle in err, err
    return err


# -- 4. a run directory is validated on load ---------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    ["pipelines/fold_1.json", "models/fold_2.safetensors", "models/fold_0.json", "spec.json"],
)
def test_a_missing_fold_file_is_named_by_load_predict_and_importance(capsys, run, tmp_path, damage):
    (run / damage).unlink()
    with pytest.raises(RunDirDamagedError) as exc:
        Run.load(run)
    assert damage.split("/")[-1] in str(exc.value)
    data = tmp_path / "new.csv"
    make_frame(20, seed=5).write_csv(data)
    out = tmp_path / "pred.csv"
    name = damage.split("/")[-1]
    err = _cli_fails(capsys, ["predict", run, "--data", data, "--out", out], name)
    assert "data" not in err.splitlines()[1]  # the hint is about the run, not the data path
    _cli_fails(capsys, ["importance", run, "--shuffles", "1"], name)
    assert not out.exists()


def test_history_reads_with_its_types_and_a_bad_value_names_the_file(run):
    history = pl.read_csv(run / "history.csv")
    history.with_columns(r2=None).write_csv(run / "history.csv")  # never measured: empty
    loaded = Run.load(run).evaluation
    assert loaded.history_frame().schema["r2"] == pl.Float64
    assert all(m.r2 is None for m in loaded.history)
    assert isinstance(loaded.history[0].train_loss, float)
    history.with_columns(pl.lit("abc").alias("train_loss")).write_csv(run / "history.csv")
    with pytest.raises(RunDirDamagedError, match=r"history\.csv: not a history"):
        Run.load(run)


def test_invalid_json_and_an_inconsistent_pipeline_name_the_file(run):
    pipe = run / "pipelines" / "fold_0.json"
    pipe.write_text("{not json")
    with pytest.raises(RunDirDamagedError, match=r"fold_0\.json: not readable JSON"):
        Run.load(run)
    other = run / "pipelines" / "fold_1.json"
    data = json.loads(other.read_text())
    del data["spec"]["features"]["noise"]
    data["state"]["input_features"].remove("noise")
    pipe.write_text(json.dumps(data))
    with pytest.raises(RunDirDamagedError, match=r"fold_0\.json: its dataset spec differs"):
        Run.load(run)


def test_a_fold_more_or_less_than_evaluation_json_lists_is_an_error(run):
    shutil.copy(run / "pipelines" / "fold_0.json", run / "pipelines" / "fold_3.json")
    with pytest.raises(RunDirDamagedError, match=r"fold_3\.json: evaluation\.json lists 3"):
        Run.load(run)


# -- 5. non-finite values are errors naming row and column -------------------------------------


def _spec_frame(frame: pl.DataFrame, squared: str | None = None):
    spec = DatasetSpec.from_frame(frame, name="t").add_opt_to("price", Out)
    if squared:
        spec.add_opt_to(squared, AddSquared)
    return spec


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [
        ("price", 1e308, r"target `price` is 1e\+308 at row 8 .*too large to score"),
        ("x1", float("inf"), r"column `x1` is inf at row 8 "),
        ("x2", 1e200, r"`x2_squared` is inf \(from `x2` = 1e\+200\) at row 8 "),
        ("noise", 1e39, r"input column `noise` has 1e\+39 at id 8, too large for float32"),
    ],
)
def test_overflowing_values_are_named_by_column_and_row(tmp_path, column, value, needle):
    frame = make_frame(60).with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(value).otherwise(pl.col(column)).alias(column)
    )
    model = make_model(dataset=_spec_frame(frame, "x2").validated(), epochs=2)
    path = tmp_path / "data.csv"
    frame.write_csv(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no raw overflow warning may escape
        with pytest.raises(DataError, match=needle):
            train(model, path, out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_non_finite_scores_are_an_error_not_a_result():
    with pytest.raises(DivergenceError, match=r"oof_r2=nan, oof_mae=inf"):
        check_finite_summary({"oof_r2": float("nan"), "oof_mae": float("inf"), "k": 3})
    check_finite_summary({"oof_r2": 0.5, "oof_mae": 1.0, "mean_fold_r2": None})


# -- 6. hand-edited scalers and model files ----------------------------------------------------


@pytest.mark.parametrize(
    ("scaler", "needle"),
    [
        ({"kind": "minmax", "lo": 5.0, "hi": 1.0}, "lo <= hi"),
        ({"kind": "minmax", "lo": 0.0, "hi": None}, "`hi` must be a finite number"),
        ({"kind": "zscore", "mean": 0.0, "std": -2.0}, "std >= 0"),
        ({"kind": "minmax", "lo": -1e308, "hi": 1e308}, "finite range"),
    ],
)
def test_an_edited_scaler_is_rejected_naming_file_and_column(run, scaler, needle):
    path = run / "pipelines" / "fold_1.json"
    data = json.loads(path.read_text())
    data["state"]["scalers"]["x1"] = scaler
    path.write_text(json.dumps(data))
    with pytest.raises(RunDirDamagedError) as exc:
        Run.load(run)
    assert "fold_1.json" in str(exc.value)
    assert "scaler of column `x1`" in str(exc.value)
    assert needle in str(exc.value)


def test_absurd_but_valid_units_give_an_error_not_inf_predictions(run):
    path = run / "pipelines" / "fold_0.json"
    data = json.loads(path.read_text())
    data["state"]["scalers"]["x1"] = {"kind": "minmax", "lo": 0.0, "hi": 1e-300}
    path.write_text(json.dumps(data))
    loaded = Run.load(run)
    with pytest.raises(DataError, match=r"input column `x1` has .* too large for float32"):
        loaded.predict(make_frame(10, seed=3))
    data["state"]["scalers"]["x1"] = {"kind": "minmax", "lo": 0.0, "hi": 1.0}
    data["state"]["scalers"]["price"] = {"kind": "minmax", "lo": 0.0, "hi": 1e308}
    path.write_text(json.dumps(data))
    loaded = Run.load(run)
    frame = make_frame(10, seed=3).with_columns(pl.col("x1") * 1e30)
    with pytest.raises(DataError, match=r"fold 0's model predicts non-finite values"):
        loaded.predict(frame)


@pytest.mark.parametrize("field", ["units", "n_inputs"])
def test_a_model_json_with_absurd_sizes_is_rejected_before_allocating(run, field):
    path = run / "models" / "fold_0.json"
    config = json.loads(path.read_text())
    if field == "units":
        config["layers"][0]["units"] = 10**12
    else:
        config["n_inputs"] = 10**12
    path.write_text(json.dumps(config))
    with pytest.raises(RunDirDamagedError, match=r"fold_0\.json: .*holds \(1, "):
        Run.load(run)
