"""A small synthetic regression problem with known informative and noise features."""

from __future__ import annotations

import numpy as np
import polars as pl

from nnforge.data import AddSquared, DatasetSpec, Normalized, Out
from nnforge.model import KFolds, LayerSpec, Model
from nnforge.nn import Adam


def make_frame(n: int = 600, seed: int = 0) -> pl.DataFrame:
    """``price = 1000 + 800 x1 + 300 x2**2`` plus small noise; ``noise`` is unrelated."""
    rng = np.random.default_rng(seed)
    x1, x2, noise = rng.uniform(0, 1, (3, n))
    price = 1000 + 800 * x1 + 300 * x2**2 + rng.normal(0, 5, n)
    return pl.DataFrame({"x1": x1, "x2": x2, "noise": noise, "price": price})


def make_model(**changes) -> Model:
    spec = DatasetSpec.from_frame(make_frame(10), name="synthetic")
    spec.add_opt_to("price", Out).add_opt_to("x2", AddSquared).add_opt(
        Normalized.incl_added_features()
    )
    base = dict(
        dataset=spec.validated(),
        layers=[LayerSpec(units=16, activation="relu"), LayerSpec(units=1, activation="linear")],
        optimizer=Adam(learning_rate=0.01),
        batch_size=32,
        epochs=25,
        trainer=KFolds(k=3),
        seed=3,
    )
    base.update(changes)
    return Model(**base)
