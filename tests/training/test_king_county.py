"""King County end to end on a sample: the shipped specs, a short run, dollars out."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nnforge.data import read_table
from nnforge.demos import example_spec
from nnforge.model import KFolds, Model
from nnforge.training import Run, train

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "king_county"
TUNED, SEED = example_spec("king-county"), example_spec("king-county-seed")


@pytest.fixture(scope="module")
def kc_sample(kc_path, tmp_path_factory) -> Path:
    frame = read_table(kc_path).sample(n=3000, seed=0, shuffle=True)
    path = tmp_path_factory.mktemp("kc") / "kc_sample.csv"
    frame.write_csv(path)
    return path


def test_shipped_specs_match_the_builder(kc_path):
    sys.path.insert(0, str(EXAMPLES))
    try:
        from model_specs import seed_model, tuned_model
    finally:
        sys.path.remove(str(EXAMPLES))
    assert Model.from_json_file(TUNED) == tuned_model(kc_path)
    assert Model.from_json_file(SEED) == seed_model(kc_path)
    seed = json.loads(SEED.read_text())
    assert seed["optimizer"] == {
        "name": "momentum",
        "learning_rate": 0.128,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "nesterov": False,
    }
    assert (seed["epochs"], seed["batch_size"], seed["trainer"]) == (
        500,
        128,
        {"name": "kfolds", "k": 8},
    )


def test_short_king_county_run_predicts_dollars(kc_sample, tmp_path):
    model = Model.from_json_file(TUNED).with_overrides(epochs=12, trainer=KFolds(k=3))
    out = tmp_path / "run"
    result = train(model, kc_sample, out_dir=out, workers=1, progress=False)
    assert result.summary["oof_r2"] > 0.6
    assert result.summary["n_rows"] == 3000
    pred = pl.read_csv(out / "predictions.csv")
    assert pred.height == 3000
    # original rows in original units: the file's own columns, price in dollars
    assert {"id", "date", "price", "zipcode", "price_pred", "fold", "row"} <= set(pred.columns)
    ratio = (pred["price_pred"] / pred["price"]).to_numpy()
    assert 0.7 < np.median(ratio) < 1.3
    assert pred["price_pred"].min() > 10_000
    # a new house is predicted by the fold ensemble, also in dollars
    new = read_table(kc_sample).head(5).drop("price")
    predicted = Run.load(out).predict(new)
    assert predicted["price_pred"].is_between(50_000, 10_000_000).all()
    assert (predicted["price_pred_std"] >= 0).all()


def test_report_of_a_real_run_has_every_section_and_embedded_pngs(kc_sample, tmp_path):
    import base64
    import re

    from nnforge.inspection import run_importance
    from nnforge.report import SECTIONS, write_report

    model = Model.from_json_file(TUNED).with_overrides(epochs=3, trainer=KFolds(k=2))
    out = tmp_path / "run"
    train(model, kc_sample, out_dir=out, workers=1, progress=False)
    features, groups = run_importance(out, n_shuffles=2)
    features.write_csv(out / "importance.csv")
    groups.write_csv(out / "importance_groups.csv")
    html = write_report(out).read_text()
    found = re.findall(r'<section id="(\w+)"><h2>.*?</h2>(.*?)</section>', html, re.S)
    sections = dict(found)
    assert set(sections) == set(SECTIONS)
    for key, body in sections.items():
        assert 'class="note">Not available' not in body, key  # real data fills every section
    images = re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 8
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<img" in sections["boxplots"]
    assert "<img" in sections["map"]
