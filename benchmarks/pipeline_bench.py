"""Time the King County preprocessing: derive + fit + transform + to_arrays.

Two workloads:

* the real King County file (21,613 rows), best of ``--repeat`` runs, plus a derive cache hit;
* a synthetic file with the same 21 columns and the same quirks (quoted ids, zip codes and
  floors, ``%Y%m%dT%H%M%S`` dates), ``--rows`` rows (default 2,000,000), generated into a
  temporary folder that is deleted afterwards.

Run from the repository root::

    NNFORGE_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/pipeline_bench.py
    .venv/bin/python benchmarks/pipeline_bench.py --rows 200000 --repeat 1   # quick

``--json FILE`` also writes the timings as JSON (``benchmarks/results/`` is git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nnforge.data import DatasetSpec, Pipeline, derive
from nnforge.datasets import king_county_path

SPEC_FILE = Path(__file__).resolve().parents[1] / "examples" / "king_county" / "dataset.json"


def synthetic_king_county(path: Path, rows: int, seed: int = 0) -> Path:
    """Write a KC-shaped CSV with ``rows`` rows (vectorised; no Python loop over rows)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2014-05-02")
    dates = start + rng.integers(0, 390, rows).astype("timedelta64[D]")
    sqft_living = np.clip(rng.lognormal(7.55, 0.42, rows), 300, 13000).round()
    above_share = rng.uniform(0.6, 1.0, rows)
    yr_built = rng.integers(1900, 2016, rows)
    renovated = rng.random(rows) < 0.04
    frame = pl.DataFrame(
        {
            "id": rng.integers(1_000_000, 9_900_000_000, rows).astype(str),
            "date": pl.Series(dates).cast(pl.Datetime("us")).dt.strftime("%Y%m%dT%H%M%S"),
            "price": np.clip(rng.lognormal(13.05, 0.52, rows), 75_000, 7_700_000).round(),
            "bedrooms": rng.integers(1, 7, rows),
            "bathrooms": rng.integers(2, 17, rows) * 0.25,
            "sqft_living": sqft_living.astype(np.int64),
            "sqft_lot": np.clip(rng.lognormal(8.99, 0.9, rows), 500, 1.6e6).astype(np.int64),
            "floors": rng.choice(["1", "1.5", "2", "2.5", "3"], rows),
            "waterfront": (rng.random(rows) < 0.0075).astype(np.int64),
            "view": np.where(rng.random(rows) < 0.9, 0, rng.integers(1, 5, rows)),
            "condition": rng.integers(1, 6, rows),
            "grade": rng.integers(4, 13, rows),
            "sqft_above": (sqft_living * above_share).round().astype(np.int64),
            "sqft_basement": (sqft_living * (1 - above_share)).round().astype(np.int64),
            "yr_built": yr_built,
            "yr_renovated": np.where(renovated, np.maximum(yr_built, 1990), 0),
            "zipcode": rng.integers(98001, 98200, rows).astype(str),
            "lat": rng.uniform(47.15, 47.78, rows).round(4),
            "long": rng.uniform(-122.52, -121.31, rows).round(3),
            "sqft_living15": np.clip(rng.lognormal(7.5, 0.33, rows), 400, 6300).astype(np.int64),
            "sqft_lot15": np.clip(rng.lognormal(8.95, 0.8, rows), 650, 8.7e5).astype(np.int64),
        }
    )
    frame.write_csv(path, quote_style="non_numeric")
    return path


def run_once(spec: DatasetSpec, path: Path, cache: bool | Path) -> dict[str, float]:
    """One full pass; returns the time of each stage in seconds."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    frame = derive(spec, path, cache=cache)
    t1 = time.perf_counter()
    rng = np.random.default_rng(0)
    is_train = pl.Series(rng.random(frame.height) < 7 / 8)
    train, valid = frame.filter(is_train), frame.filter(~is_train)
    t2 = time.perf_counter()
    pipe = Pipeline(spec).fit(train)
    t3 = time.perf_counter()
    t_train = pipe.transform(train, training=True)
    t_valid = pipe.transform(valid)
    t4 = time.perf_counter()
    pipe.to_arrays(t_train, dtype="float32")
    pipe.to_arrays(t_valid, dtype="float32")
    t5 = time.perf_counter()
    times.update(derive=t1 - t0, split=t2 - t1, fit=t3 - t2, transform=t4 - t3, to_arrays=t5 - t4)
    times["total"] = t5 - t0
    times["rows"] = frame.height
    times["dropped"] = pipe.n_dropped_
    return times


def best_of(repeat: int, fn: Callable[[], dict[str, float]]) -> dict[str, float]:
    runs = [fn() for _ in range(repeat)]
    return min(runs, key=lambda r: r["total"])


def show(label: str, t: dict[str, Any]) -> None:
    stages = "  ".join(
        f"{k} {t[k] * 1000:7.1f} ms" for k in ("derive", "fit", "transform", "to_arrays")
    )
    print(f"{label:<34} {int(t['rows']):>9} rows  total {t['total']:7.3f} s  | {stages}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="synthetic rows")
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload (best kept)")
    parser.add_argument("--json", type=Path, default=None, help="also write timings here")
    parser.add_argument("--data", type=Path, default=None, help="kc_house_data.csv or folder")
    args = parser.parse_args(argv)

    spec = DatasetSpec.from_json_file(SPEC_FILE)
    results: dict[str, Any] = {"cpu_count": os.cpu_count(), "polars": pl.__version__}
    print(f"polars {pl.__version__}, {os.cpu_count()} CPUs (POLARS_MAX_THREADS may limit them)")
    with tempfile.TemporaryDirectory(prefix="nnforge-bench-") as tmp:
        tmp_dir = Path(tmp)
        try:
            kc = king_county_path(args.data)
        except FileNotFoundError as exc:
            print(f"King County file not found, skipping that workload: {exc}".splitlines()[0])
        else:
            cold = best_of(args.repeat, lambda: run_once(spec, kc, cache=False))
            show("King County (no cache)", cold)
            run_once(spec, kc, cache=tmp_dir / "cache")  # fill the cache
            warm = best_of(args.repeat, lambda: run_once(spec, kc, cache=tmp_dir / "cache"))
            show("King County (derive cache hit)", warm)
            results["king_county"] = {"no_cache": cold, "cache_hit": warm}

        t0 = time.perf_counter()
        path = synthetic_king_county(tmp_dir / "synthetic.csv", args.rows)
        gen = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        print(f"generated {args.rows:,} synthetic rows ({size_mb:.0f} MB) in {gen:.1f} s")
        big = best_of(args.repeat, lambda: run_once(spec, path, cache=False))
        show(f"synthetic {args.rows:,} rows", big)
        results["synthetic"] = {"rows": args.rows, "file_mb": size_mb, "timings": big}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
