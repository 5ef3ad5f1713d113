"""Real dirty tables: missing targets, placeholders, unused text, rare categories, constant
columns within a fold, other separators and encodings, duplicate names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nnforge.cli import main
from nnforge.data import (
    DatasetSpec,
    FeatureSpec,
    Missing,
    Normalized,
    OneHot,
    Out,
    Pipeline,
    derive,
    read_table,
)
from nnforge.data.features import OneHotSpec
from nnforge.exceptions import DataError, SpecError
from nnforge.model import KFolds, LayerSpec, Model
from nnforge.training import Run, train


def _frame(n: int = 90, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0, 1, (2, n))
    return pl.DataFrame({"a": a, "b": b, "y": 10 + 3 * a - b + rng.normal(0, 0.01, n)})


def _model(dataset: DatasetSpec, k: int = 3) -> Model:
    return Model(
        dataset=dataset.validated(),
        layers=[LayerSpec(units=4), LayerSpec(units=1, activation="linear")],
        epochs=2,
        batch_size=32,
        trainer=KFolds(k=k),
    )


def _spec(frame: pl.DataFrame) -> DatasetSpec:
    return DatasetSpec.from_frame(frame, name="t").add_opt(Normalized).add_opt_to("y", Out)


def _cli(capsys, argv: list) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- 7. missing targets ------------------------------------------------------------------------


def test_rows_without_a_target_are_dropped_counted_and_reported(tmp_path, caplog):
    frame = _frame().with_columns(
        pl.when(pl.int_range(pl.len()).is_in([4, 40])).then(None).otherwise("y").alias("y")
    )
    path = tmp_path / "data.csv"
    frame.write_csv(path)
    spec = _spec(frame)
    with pytest.raises(DataError, match=r"`y` has 2 missing.*\"missing\": \"drop\""):
        derive(spec, path, cache=False)
    spec.add_opt_to("y", Missing("drop"))
    with caplog.at_level("INFO", logger="nnforge"):
        result = train(_model(spec), path, out_dir=tmp_path / "run", progress=False)
    assert "left out 2 row(s) whose target `y` is missing (id 5, 41)" in caplog.text
    assert result.summary["n_no_target"] == 2
    assert result.summary["n_rows"] == 88
    assert sorted(set(range(1, 91)) - set(result.predictions["row"].to_list())) == [5, 41]
    assert np.isfinite(result.summary["oof_r2"])
    # predict on a file whose target column is there but blank
    blank = tmp_path / "new.csv"
    _frame(5, seed=1).with_columns(pl.lit(None, pl.Float64).alias("y")).write_csv(blank)
    predicted = Run.load(tmp_path / "run").predict(blank)
    assert predicted["y"].null_count() == 5
    assert np.isfinite(predicted["y_pred"].to_numpy()).all()


def test_outputs_take_error_or_drop_but_are_never_imputed():
    frame = _frame(10)
    spec = _spec(frame).add_opt_to("y", Missing("median"))
    with pytest.raises(SpecError, match=r"features\.y\.missing: outputs take `error` or `drop`"):
        spec.validated()


# -- 8. declared placeholders (na_values) and `spec init` proposing them -----------------------


def test_na_values_read_as_missing_from_csv_and_frames(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,y\n1,?,3\nn/a,2,4\n5,6,NA\n7,8,9\n")
    spec = DatasetSpec.model_validate(
        {
            "na_values": ["?", "n/a", "NA"],
            "features": {
                "a": {"missing": "median"},
                "b": {"missing": "median"},
                "y": {"output": True, "missing": "drop"},
            },
        }
    )
    assert DatasetSpec.from_json(spec.to_json()) == spec  # JSON round trip
    from_csv = derive(spec, path, cache=False)
    assert from_csv["a"].to_list() == [1.0, None, 5.0, 7.0]
    assert from_csv["y"].null_count() == 1
    raw = pl.read_csv(path, infer_schema_length=0)  # every column as text, e.g. from Parquet
    assert derive(spec, raw).equals(from_csv)


def test_undeclared_placeholders_get_a_hint_to_declare_them(capsys, tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("a,b,y\n1,?,3\n2, n/a ,4\n5,6,7\n")
    err = _train_fails(capsys, tmp_path, path, _spec(_frame(3)), "column `b` must be numeric")
    assert 'hint: declare them missing with "na_values": ["?", "n/a"]' in err


def test_spec_init_proposes_na_values_and_reports_each_token(capsys, tmp_path):
    frame = _frame(50).with_columns(pl.col("a").cast(pl.String))
    a = frame["a"].to_list()
    a[3], a[20], a[30] = "?", "?", "-"
    frame = frame.with_columns(pl.Series("a", a), pl.Series("code", [f"x{i}" for i in range(50)]))
    path = tmp_path / "dirty.csv"
    frame.write_csv(path)
    code, out, err = _cli(capsys, ["spec", "init", path, "--target", "y"])
    assert code == 0, err
    dataset = json.loads(out)["dataset"]
    assert dataset["na_values"] == ["-", "?"]
    assert dataset["features"]["a"] == {"dtype": "float", "scale": "minmax", "missing": "median"}
    assert dataset["features"]["code"]["used_in_model"] is False  # real text stays text
    assert "column `a` is numeric but for '?' in 2 row(s) (data rows 4, 21)" in err
    assert "column `a` is numeric but for '-' in 1 row(s) (data rows 31)" in err
    spec = tmp_path / "spec.json"
    spec.write_text(out)
    run = tmp_path / "run"
    code, _, err = _cli(capsys, ["train", spec, "--data", path, "--out", run, "--epochs", "2",
                                 "--quiet"])  # fmt: skip
    assert code == 0, err


# -- 9. unused columns are never parsed --------------------------------------------------------


def test_unused_text_and_dirty_dates_are_never_parsed(tmp_path):
    frame = _frame(30).with_columns(
        pl.Series("note", ["free text"] * 29 + [None]),
        pl.Series("date", ["2020-01-02"] * 28 + ["someday", "31/02/2020"]),
    )
    spec = _spec(frame.select("a", "b", "y"))
    spec.features["note"] = FeatureSpec(name="note", used_in_model=False, scale="minmax")
    spec.features["date"] = FeatureSpec(name="date", used_in_model=False)
    derived = derive(spec, frame)
    assert derived["note"].to_list() == frame["note"].to_list()  # as read, missing allowed
    pipe = Pipeline(spec).fit(derived)
    assert pipe.input_features_ == ["a", "b"]
    assert pipe.transform(derived)["date"].to_list() == frame["date"].to_list()


# -- 10. one-hot width is the same in every fold -----------------------------------------------


def test_a_category_seen_once_trains_in_every_fold_and_rare_ones_share_a_column(tmp_path):
    kinds = ["flat", "house"] * 44 + ["castle", "boat"]
    frame = _frame().with_columns(pl.Series("kind", kinds))
    spec = _spec(frame.drop("kind")).add_opt_to("y", Out)
    spec.features["kind"] = FeatureSpec(name="kind", one_hot=OneHotSpec(unknown="zeros"))
    result = train(_model(spec), frame, progress=False)
    widths = {tuple(p.input_features_) for p in result.pipelines}
    assert widths == {("a", "b", "kind_boat", "kind_castle", "kind_flat", "kind_house")}

    spec.add_opt_to("kind", OneHot(unknown="error", min_frequency=2))
    assert DatasetSpec.from_json(spec.to_json()).features["kind"].one_hot.min_frequency == 2
    result = train(_model(spec), frame, progress=False)
    pipe = result.pipelines[0]
    assert pipe.input_features_ == ["a", "b", "kind_flat", "kind_house", "kind_other"]
    new = derive(spec, frame.tail(3))
    other = pipe.transform(new)["kind_other"].to_list()
    assert other == [0.0, 1.0, 1.0]  # house, castle, boat
    again = Pipeline.from_json(pipe.to_json())
    assert again.transform(new).equals(pipe.transform(new))


def test_declared_categories_fix_the_vocabulary():
    frame = _frame(30).with_columns(pl.Series("kind", ["a", "b", "c"] * 10))
    spec = _spec(frame.drop("kind"))
    spec.features["kind"] = FeatureSpec(
        name="kind", one_hot=OneHotSpec(unknown="zeros", categories=["c", "a", "z"])
    )
    pipe = Pipeline(spec).fit(derive(spec, frame))
    assert pipe.input_features_ == ["a", "b", "kind_c", "kind_a", "kind_z"]
    spec.features["kind"].one_hot = OneHotSpec(categories=["a", "a"])
    with pytest.raises(SpecError, match=r"one_hot\.categories: must be distinct"):
        spec.validated()


# -- 11. constant within one fold's training rows ----------------------------------------------


def test_a_column_constant_in_one_folds_training_rows_trains(caplog):
    frame = _frame(30).with_columns(pl.Series("flag", [0.0] * 29 + [1.0]))
    spec = _spec(frame)
    model = _model(spec, k=2).with_overrides(trainer=KFolds(k=2))
    with caplog.at_level("INFO", logger="nnforge"):
        result = train(model, frame, progress=False)
    assert "column `flag` is constant (0.0)" in caplog.text
    assert np.isfinite(result.summary["oof_r2"])


def test_spec_init_does_not_scale_a_constant_column(capsys, tmp_path):
    path = tmp_path / "c.csv"
    _frame(20).with_columns(pl.lit(7).alias("same")).write_csv(path)
    code, out, err = _cli(capsys, ["spec", "init", path, "--target", "y"])
    assert code == 0
    assert json.loads(out)["dataset"]["features"]["same"] == {
        "dtype": "int",
        "used_in_model": False,
    }
    assert "column `same` is constant" in err


# -- 12. separators, encodings, duplicate names, inf: two-line errors naming the file once -----


def _train_fails(capsys, tmp_path: Path, data: Path, spec: DatasetSpec, *needles: str) -> str:
    path = tmp_path / "spec.json"
    _model(spec).to_json_file(path)
    code, _, err = _cli(capsys, ["train", path, "--data", data, "--out", tmp_path / "run"])
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].count(str(data)) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_a_semicolon_file_is_named_and_read_with_a_separator(capsys, tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text(_frame(12).write_csv(separator=";"))
    spec = _spec(_frame(3))
    _train_fails(capsys, tmp_path, path, spec, "looks semicolon-separated", 'hint: set "separator"')
    spec.separator = ";"
    assert read_table(path, **spec.validated().read_options()).columns == ["a", "b", "y"]
    assert DatasetSpec.from_json(spec.to_json()).separator == ";"
    spec.separator = ";;"
    with pytest.raises(SpecError, match="separator: must be one character"):
        spec.validated()


def test_a_non_utf8_file_names_the_row_and_reads_with_an_encoding(capsys, tmp_path):
    path = tmp_path / "latin.csv"
    text = "a,b,y,city\n" + "".join(f"{i},{i % 3},{i * 2},Malm\xf6\n" for i in range(12))
    path.write_bytes(text.encode("latin-1"))
    spec = _spec(_frame(3))
    err = _train_fails(capsys, tmp_path, path, spec, "is not UTF-8: byte 0xf6", "at row 1 ")
    assert 'hint: set the dataset spec\'s "encoding"' in err
    spec.encoding = "latin-1"
    assert read_table(path, **spec.validated().read_options())["city"][0] == "Malm\xf6"
    spec.encoding = "klingon"
    with pytest.raises(SpecError, match="encoding: unknown text encoding"):
        spec.validated()


def test_duplicate_names_and_inf_values_are_named(capsys, tmp_path):
    dup = tmp_path / "dup.csv"
    dup.write_text("a,b,a,y\n1,2,3,4\n")
    _train_fails(capsys, tmp_path, dup, _spec(_frame(3)), "column name `a` twice (columns 1 and 3)")
    inf = tmp_path / "inf.csv"
    inf.write_text("a,b,y\n1,2,3\n4,inf,6\n7,8,9\n")
    _train_fails(capsys, tmp_path, inf, _spec(_frame(3)), "column `b` is inf at row 2 ")


def test_a_missing_model_file_gets_a_hint_about_the_run_not_the_data(capsys, tmp_path):
    frame = _frame(30)
    train(_model(_spec(frame)), frame, out_dir=tmp_path / "run", progress=False)
    (tmp_path / "run" / "models" / "fold_1.safetensors").unlink()
    data = tmp_path / "d.csv"
    frame.write_csv(data)
    code, _, err = _cli(capsys, ["predict", tmp_path / "run", "--data", data, "--out",
                                 tmp_path / "p.csv"])  # fmt: skip
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert "fold_1.safetensors: missing" in lines[0]
    assert "train it again" in lines[1]
