"""The workload every peer of ``seed_workload.py`` trains: the seed's network and its folds.

The network is the seed's final one (8 hidden ReLU layers of 35 units, a linear output, Adam with
Keras' defaults, batch 128, float32). The folds are model-ready float32 arrays, prepared once by
the parent and shared by every peer. The row orders and padded stacks come from nnforge's trainer
itself (imported, not copied), so the replica peers see the batches nnforge's trainer sees.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KC_SPEC = "examples/king_county/dataset.json"
HIDDEN, UNITS, BATCH = 8, 35, 128
ADAM = {"lr": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# -- data ----------------------------------------------------------------------------------------


@dataclass
class Fold:
    """One fold's model-ready arrays (float32, normalised) and the way back to dollars."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    index: int  # the fold's number: seeds derive from it, whichever process trains it
    price_valid: np.ndarray | None = None  # held-out prices in dollars
    inverse: Callable[[np.ndarray], np.ndarray] | None = None  # model output -> dollars

    def to_dollars(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(self.inverse(np.asarray(y, np.float64).reshape(-1, 1))).reshape(-1)


def data_path(arg: str | None) -> Path:
    """The King County data: ``--data``, else as nnforge finds it (the packaged copy last)."""
    from nnforge.datasets import king_county_path

    try:
        return king_county_path(arg)
    except FileNotFoundError as exc:
        raise SystemExit(f"{exc}. Pass --data PATH") from None


def split_rows(n_rows: int, k: int, seed: int) -> list[np.ndarray]:
    """The held-out rows of each fold, drawn as nnforge's trainer draws them for this seed."""
    from nnforge.model import KFolds
    from nnforge.training import split_rows as nnforge_split_rows

    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[0])
    return nnforge_split_rows(KFolds(k=k), n_rows, rng)


def plain_features(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The seed's 34 inputs and log10(price), before min-max, with plain Polars."""
    import polars as pl

    raw = (
        pl.read_parquet(path)
        if path.suffix == ".parquet"
        else pl.read_csv(path, infer_schema_length=0)
    )
    df = raw.drop("id", "zipcode", "sqft_living15", "sqft_lot15")
    df = df.with_columns(pl.exclude("date").cast(pl.Float64))
    date = pl.col("date").str.strptime(pl.Datetime, "%Y%m%dT%H%M%S")
    df = df.with_columns(
        date.dt.month().cast(pl.Float64).alias("month"),
        (date.dt.epoch("s")).cast(pl.Float64).alias("timestamp"),
        pl.when(pl.col("yr_renovated") == 0)
        .then(pl.col("yr_built"))
        .otherwise(pl.col("yr_renovated"))
        .alias("yr_renovated"),
        pl.col("sqft_living", "sqft_above", "price").log10(),
    ).drop("date")
    inputs = [c for c in df.columns if c != "price"]
    df = df.with_columns([(pl.col(c) ** 2).alias(f"{c}^2") for c in inputs])
    names = [c for c in df.columns if c != "price"]
    return df.select(names).to_numpy(), df["price"].to_numpy(), names


def prepare_plain(path: Path, k: int, seed: int) -> tuple[list[Fold], list[str]]:
    """Folds with min-max fitted on each fold's training rows, as nnforge's Pipeline does."""
    x_all, y_all, names = plain_features(path)
    folds = []
    for valid in split_rows(len(x_all), k, seed):
        train = np.setdiff1d(np.arange(len(x_all)), valid)
        lo, hi = x_all[train].min(axis=0), x_all[train].max(axis=0)
        scale = np.where(hi > lo, hi - lo, 1.0)
        y_lo, y_hi = float(y_all[train].min()), float(y_all[train].max())

        def norm(rows, lo=lo, scale=scale, y_lo=y_lo, y_hi=y_hi):
            x = ((x_all[rows] - lo) / scale).astype(np.float32)
            y = ((y_all[rows] - y_lo) / (y_hi - y_lo)).astype(np.float32)[:, None]
            return x, y

        def inverse(y, y_lo=y_lo, y_hi=y_hi):
            return 10.0 ** (y * (y_hi - y_lo) + y_lo)

        x_train, y_train = norm(train)
        x_valid, y_valid = norm(valid)
        folds.append(
            Fold(x_train, y_train, x_valid, y_valid, len(folds), 10.0 ** y_all[valid], inverse)
        )
    return folds, names


def benchmark_spec(filter_outliers: bool = False):
    """The King County DatasetSpec of examples/king_county, by default without outlier filters.

    Outlier filtering drops a different number of training rows per fold; without it every fold
    trains on all its rows, which is what the seconds per fold-epoch are quoted for.
    """
    from nnforge.data import DatasetSpec

    data = json.loads((ROOT / KC_SPEC).read_text())

    def strip(node):
        if isinstance(node, dict):
            return {
                key: (False if key == "filter_outliers" else strip(value))
                for key, value in node.items()
            }
        return [strip(v) for v in node] if isinstance(node, list) else node

    return DatasetSpec.model_validate(data if filter_outliers else strip(data))


def prepare_nnforge(path: Path, k: int, seed: int) -> tuple[list[Fold], list[str]]:
    """Folds through nnforge's own derive + per-fold Pipeline (the KC example spec)."""
    from nnforge.data import Pipeline, derive, read_table

    spec = benchmark_spec()
    source = read_table(path)
    frame = derive(spec, source, cache=False)
    if frame.height != source.height:
        msg = f"derive changed the row count ({source.height} -> {frame.height})"
        raise RuntimeError(msg)
    price = source["price"].cast(float).to_numpy()
    folds, names = [], []
    for valid in split_rows(frame.height, k, seed):
        train = np.setdiff1d(np.arange(frame.height), valid)
        pipe = Pipeline(spec).fit(frame[train])
        _, x_train, y_train = pipe.to_arrays(pipe.transform(frame[train], training=True))
        _, x_valid, y_valid = pipe.to_arrays(pipe.transform(frame[valid]))
        folds.append(
            Fold(
                x_train,
                y_train,
                x_valid,
                y_valid,
                len(folds),
                price[valid],
                pipe.inverse_transform_outputs,
            )
        )
        names = list(pipe.input_features_)
    return folds, names


def prepare(path: Path, k: int, seed: int, how: str) -> tuple[list[Fold], list[str], str]:
    """nnforge's pipeline when it and the KC spec are there (``auto``), else plain Polars."""
    if how == "nnforge" or (
        how == "auto" and (ROOT / KC_SPEC).is_file() and installed("nnforge.data")
    ):
        return (*prepare_nnforge(path, k, seed), "nnforge derive + Pipeline (no outlier filter)")
    return (*prepare_plain(path, k, seed), "plain polars")


# -- shared by the peers (inside a worker process) -------------------------------------------------


class EpochClock:
    """Wall time of every epoch of every fold, to split warm-up (compile) from steady state."""

    def __init__(self) -> None:
        self.epochs: list[list[float]] = []

    def fold(self) -> None:
        self.epochs.append([])
        self._last = time.perf_counter()

    def tick(self) -> None:
        now = time.perf_counter()
        self.epochs[-1].append(now - self._last)
        self._last = now

    def warmup(self) -> float:
        """Extra time of each fold's first epoch over its median epoch, summed over folds."""
        extra = 0.0
        for times in self.epochs:
            if len(times) > 1:
                extra += max(0.0, times[0] - float(np.median(times[1:])))
        return extra


def padded_orders(rngs, counts: list[int], n_max: int) -> np.ndarray:
    """One shuffled row order per replica, padded to ``n_max`` as the trainer pads them."""
    from nnforge.training.loop import _padded_order

    return np.stack([_padded_order(rng, n, n_max) for rng, n in zip(rngs, counts, strict=True)])


def stack_padded(arrays: list[np.ndarray]) -> np.ndarray:
    """(n_r, k) arrays stacked into (R, max n_r, k) float32, zero padded: one array for the
    replica peers. The padding is never trained on (``padded_orders`` revisits real rows, as
    the trainer does) and its predictions are cut off."""
    out = np.zeros((len(arrays), max(len(a) for a in arrays), arrays[0].shape[1]), np.float32)
    for r, a in enumerate(arrays):
        out[r, : len(a)] = a
    return out
