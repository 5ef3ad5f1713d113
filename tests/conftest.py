"""Shared fixtures: the King County file (the copy shipped in the package) and an isolated cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# scikit-learn runs its array-API estimator check only with this set, before SciPy is imported
# (tests/test_sklearn_checks.py: no check may be skipped).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

from nnforge.datasets import PACKAGED_KING_COUNTY  # after the variable above


@pytest.fixture(scope="session")
def kc_path() -> Path:
    """The King County table shipped with the package: every King County test runs everywhere."""
    return PACKAGED_KING_COUNTY


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep every test's default cache (derive, fetch) out of the user's home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


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
    import json

    import numpy as np
    import polars as pl

    from nnforge.cli.spec import starter_spec
    from nnforge.model import Model
    from nnforge.training import train

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


@pytest.fixture(scope="session")
def houses_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (small) run trained once a session: dates, coordinates, a price in USD, 3 folds.

    Tests that add or break files work on a copy (``shutil.copytree``).
    """
    return train_houses(tmp_path_factory.mktemp("houses"))
