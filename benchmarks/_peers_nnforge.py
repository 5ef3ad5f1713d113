"""nnforge's peers of ``seed_workload.py``: the engine's replicas, and the public training API.

``run_nnforge`` trains all folds as replicas of one ``Network`` with batches gathered as the
trainer gathers them; ``run_api`` runs ``nnforge.training`` end to end on the same folds (its
own preprocessing and worker processes).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from _workload import (
    ADAM,
    BATCH,
    HIDDEN,
    UNITS,
    EpochClock,
    Fold,
    benchmark_spec,
    data_path,
    padded_orders,
    stack_padded,
)


def _adam():
    """nnforge's Adam with the workload's (Keras') hyperparameters."""
    from nnforge.nn import Adam

    lr, beta_1, beta_2, epsilon = (ADAM[k] for k in ("lr", "beta_1", "beta_2", "epsilon"))
    return Adam(learning_rate=lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)


def run_nnforge(folds: list[Fold], epochs: int, seed: int, clock: EpochClock) -> list[np.ndarray]:
    """All folds as replicas of one nnforge Network, batches gathered like the trainer does."""
    from nnforge.nn import Dense, Network

    R, n_in = len(folds), folds[0].x_train.shape[1]
    layers = [Dense(UNITS, activation="relu") for _ in range(HIDDEN)] + [Dense(1)]
    net = Network(
        n_inputs=n_in,
        layers=layers,
        loss="mse",
        optimizer=_adam(),
        replicas=R,
        dtype="float32",
        seed=[seed + f.index for f in folds],
    )
    x, y = stack_padded([f.x_train for f in folds]), stack_padded([f.y_train for f in folds])
    counts = [len(f.x_train) for f in folds]
    rngs = [np.random.default_rng(seed + 1000 + f.index) for f in folds]
    # One table of rows per array and flat row numbers: a batch is one np.take, as in the trainer.
    x_rows, y_rows = x.reshape(-1, n_in), y.reshape(-1, 1)
    first_row = np.arange(R)[:, None] * x.shape[1]
    xb, yb = np.empty((R, BATCH, n_in), np.float32), np.empty((R, BATCH, 1), np.float32)
    clock.fold()
    for _ in range(epochs):
        order = padded_orders(rngs, counts, x.shape[1]) + first_row
        for start in range(0, x.shape[1], BATCH):
            rows = order[:, start : start + BATCH]
            b = rows.shape[1]
            net.train_step(
                np.take(x_rows, rows, axis=0, out=xb[:, :b], mode="clip"),
                np.take(y_rows, rows, axis=0, out=yb[:, :b], mode="clip"),
            )
        clock.tick()
    pred = net.predict(stack_padded([f.x_valid for f in folds]))
    return [pred[r, : len(f.x_valid)] for r, f in enumerate(folds)]


# -- nnforge through its public training API ------------------------------------------------------


def api_model(epochs: int, folds: int, seed: int, validate_every: int = 0):
    """The seed's network as an nnforge Model spec on the KC example dataset spec."""
    from nnforge.model import KFolds, LayerSpec, Model

    hidden = LayerSpec(units=UNITS, activation="relu", kernel_initializer="glorot_uniform")
    return Model(
        dataset=benchmark_spec(),
        layers=[hidden] * HIDDEN + [LayerSpec(units=1, activation="linear")],
        loss="mse",
        optimizer=_adam(),
        batch_size=BATCH,
        epochs=epochs,
        trainer=KFolds(k=folds),
        validate_every=validate_every,
        seed=seed,
        dtype="float32",
    )


def run_api(args: argparse.Namespace) -> dict[str, Any]:
    """``nnforge.training`` end to end on the same folds: derive, pipelines, workers, training.

    Validation runs on the last epoch only, as for the peers. The time per fold-epoch is taken
    between the moment every fold finished its first epoch and the last epoch's end, so worker
    start-up and the first epoch are the warm-up; preprocessing is reported apart.
    """
    from nnforge.training import Trainer
    from nnforge.training.callbacks import Callback

    folds, epochs = args.folds, args.epochs
    model = api_model(epochs, folds, args.seed)
    marks: dict[str, float] = {}

    class Clock(Callback):
        def on_train_begin(self, info) -> None:
            marks["begin"] = time.time()

        def on_epoch_end(self, m) -> None:
            marks.setdefault(f"first{m.fold}", time.time())
            marks["last"] = time.time()

    # The trainer draws the folds with split_rows from the same seed: the peers' folds.
    trainer = Trainer(model, workers=args.workers, callbacks=[Clock()], progress=False, cache=False)
    start = time.time()
    result = trainer.fit(data_path(args.data))
    end = time.time()
    first = max(v for k, v in marks.items() if k.startswith("first"))
    return {
        "start": marks["begin"],
        "end": marks["last"],
        "warmup_s": first - marks["begin"],
        "steady_s_per_fold_epoch": (marks["last"] - first) / max(1, folds * (epochs - 1)),
        "preprocess_s": marks["begin"] - start,
        "evaluate_s": end - marks["last"],
        "workers": result.summary.get("workers"),
        "r2_oof": result.summary["oof_r2"],
        "r2_folds": [f.r2 for f in result.evaluation.folds],
        "r2_norm_log": None,
    }
