"""Small synthetic frames for the data tests (a plain module, so the import name is unique)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl


def house_frame(n: int = 40, seed: int = 0) -> pl.DataFrame:
    """A small KC-like frame: numeric, a date, a category, a renovation year with zeros."""
    rng = np.random.default_rng(seed)
    months = rng.integers(1, 13, n)
    days = rng.integers(1, 28, n)
    return pl.DataFrame(
        {
            "date": [f"2014{m:02d}{d:02d}T000000" for m, d in zip(months, days, strict=True)],
            "price": rng.uniform(1e5, 1e6, n).round(0),
            "sqft": rng.uniform(500, 5000, n).round(0),
            "rooms": rng.integers(1, 6, n).astype(float),
            "yr_built": rng.integers(1900, 2010, n),
            "yr_renovated": np.where(rng.random(n) < 0.7, 0, rng.integers(1950, 2015, n)),
            "city": rng.choice(["a", "b", "c"], n),
        }
    )


def write_csv(path: Path, frame: pl.DataFrame) -> Path:
    frame.write_csv(path)
    return path
