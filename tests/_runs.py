"""Small real run directories for the report tests, written by ``train`` itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from nnforge.cli.spec import starter_spec
from nnforge.model import Model
from nnforge.training import train


def train_houses(
    work: Path,
    *,
    n: int = 300,
    folds: int = 3,
    epochs: int = 40,
    coordinates: bool = True,
    unit: str | None = "USD",
    name: str = "houses",
) -> Path:
    """Train a small real run on synthetic houses (a date, a size, coordinates, a price) into
    ``work / "run"``: the run directory every report test reads, written by ``train`` itself."""
    rng = np.random.default_rng(1)
    size, lat = rng.uniform(50, 300, n), rng.uniform(47.2, 47.8, n)
    days = rng.integers(0, 365, n)
    columns = {
        "date": [f"2014-{1 + d // 31:02d}-{1 + d % 28:02d}" for d in days],
        "size": size,
        "lat": lat,
        "long": rng.uniform(-122.5, -121.8, n),
        "price": 2000 * size + 300_000 * (lat - 47.2) + rng.normal(0, 20_000, n),
    }
    if not coordinates:
        del columns["lat"], columns["long"]
    work.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(columns).write_csv(work / "houses.csv")
    spec = json.loads(
        starter_spec(work / "houses.csv", "price", folds=folds, epochs=epochs).to_json()
    )
    spec["dataset"]["name"] = name
    if unit is not None:
        spec["dataset"]["features"]["price"]["unit"] = unit
    model = Model.from_json(json.dumps(spec))
    train(model, work / "houses.csv", out_dir=work / "run", progress=False, workers=1)
    return work / "run"
