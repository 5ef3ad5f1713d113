"""The seed's King County workload, timed with nnforge and its peers in one run.

The network is the seed's final one: 34 inputs, 8 hidden ReLU layers of 35 units, a linear output,
Glorot uniform kernels, zero biases, MSE, Adam with Keras' defaults (lr 1e-3, beta_1 0.9,
beta_2 0.999, epsilon 1e-7), batch 128, float32, k folds. Every peer trains the same folds from
the same preprocessed arrays for the same number of epochs and is scored on the same held-out
rows, in dollars (log10 and min-max reverted).

Each (peer, layout) runs in fresh child processes so that thread settings and peak memory are its
own. A layout is ``1p1t`` (one process, one BLAS/torch thread), ``1p2t`` (one process, two
threads) or ``2p1t`` (the folds split over two processes of one thread each, started together).

Usage::

    python benchmarks/seed_workload.py                      # 8 folds x 20 epochs, every peer
    python benchmarks/seed_workload.py --epochs 3 --folds 2 --peers torch,nnforge
    python benchmarks/seed_workload.py --full               # 8 x 500 through `nnforge train`

Results are printed and written to ``benchmarks/results/seed_workload.json`` (``--full``:
``seed_workload_full.json``). Run it through ``make bench`` / ``make bench-full``, which install
the peers and unset ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` for the run (see README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
KC_SPEC = "examples/king_county/dataset.json"
HIDDEN, UNITS, BATCH = 8, 35, 128
ADAM = {"lr": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

# Peer -> layouts it runs by default. torch.compile and the single-process nnforge runs are
# cheap to add with --layouts; these defaults keep `make bench` to a few minutes on 2 cores.
DEFAULT_LAYOUTS = {
    "nnforge": ("1p1t", "2p1t"),
    "nnforge-api": ("api",),
    "jax": ("1p1t", "2p1t"),
    "torch": ("1p1t", "1p2t", "2p1t"),
    "torch-compile": ("1p1t",),
    "torch-replicas": ("1p1t", "2p1t"),
    "sklearn": ("1p1t", "2p1t"),
}
PEER_NEEDS = {
    "nnforge": "nnforge.nn",
    "nnforge-api": "nnforge.training",
    "jax": "jax",
    "torch": "torch",
    "torch-compile": "torch",
    "torch-replicas": "torch",
    "sklearn": "sklearn",
}


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
    if how == "nnforge" or (how == "auto" and (ROOT / KC_SPEC).is_file() and _has("nnforge.data")):
        return (*prepare_nnforge(path, k, seed), "nnforge derive + Pipeline (no outlier filter)")
    return (*prepare_plain(path, k, seed), "plain polars")


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true, np.float64).ravel(), np.asarray(y_pred, np.float64).ravel()
    return float(1.0 - np.sum((y_true - y_pred) ** 2) / np.sum((y_true - y_true.mean()) ** 2))


# -- peers (run inside a worker process) ---------------------------------------------------------


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
    """(n_r, k) float32 arrays stacked into (R, max n_r, k), zero padded, as the trainer does."""
    from nnforge.training.trainers import _pad

    return _pad([np.asarray(a, np.float32) for a in arrays])[0]


def run_nnforge(folds: list[Fold], epochs: int, seed: int, clock: EpochClock) -> list[np.ndarray]:
    """All folds as replicas of one nnforge Network, batches gathered like the trainer does."""
    from nnforge.nn import Adam, Dense, Network

    R, n_in = len(folds), folds[0].x_train.shape[1]
    layers = [Dense(UNITS, activation="relu") for _ in range(HIDDEN)] + [Dense(1)]
    adam = Adam(
        learning_rate=ADAM["lr"],
        beta_1=ADAM["beta_1"],
        beta_2=ADAM["beta_2"],
        epsilon=ADAM["epsilon"],
    )
    net = Network(
        n_inputs=n_in,
        layers=layers,
        loss="mse",
        optimizer=adam,
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


def _torch_mlp(torch, n_in: int):
    layers, width = [], n_in
    for units in [UNITS] * HIDDEN + [1]:
        lin = torch.nn.Linear(width, units)
        torch.nn.init.xavier_uniform_(lin.weight)  # Glorot uniform
        torch.nn.init.zeros_(lin.bias)
        layers += [lin, torch.nn.ReLU()]
        width = units
    return torch.nn.Sequential(*layers[:-1])  # linear output


def run_torch(folds, epochs, seed, clock, *, compile_model: bool = False) -> list[np.ndarray]:
    """One PyTorch model per fold, trained sequentially (eager, or torch.compile)."""
    import torch

    preds = []
    for f in folds:
        torch.manual_seed(seed + f.index)
        model = _torch_mlp(torch, f.x_train.shape[1])
        opt = torch.optim.Adam(
            model.parameters(),
            lr=ADAM["lr"],
            betas=(ADAM["beta_1"], ADAM["beta_2"]),
            eps=ADAM["epsilon"],
        )
        forward = torch.compile(model) if compile_model else model
        x, y = torch.from_numpy(f.x_train), torch.from_numpy(f.y_train)
        gen = torch.Generator().manual_seed(seed + 1000 + f.index)
        clock.fold()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), BATCH):
                rows = order[start : start + BATCH]
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.mse_loss(forward(x[rows]), y[rows])
                loss.backward()
                opt.step()
            clock.tick()
        with torch.no_grad():
            preds.append(model(torch.from_numpy(f.x_valid)).numpy())
    return preds


def run_torch_replicas(folds, epochs, seed, clock) -> list[np.ndarray]:
    """PyTorch eager with nnforge's trick: all folds in one batched-matmul (bmm) network."""
    import torch

    R, n_in = len(folds), folds[0].x_train.shape[1]
    torch.manual_seed(seed + folds[0].index)
    params, width = [], n_in
    for units in [UNITS] * HIDDEN + [1]:
        limit = (6.0 / (width + units)) ** 0.5
        w = (torch.rand(R, width, units) * 2 - 1) * limit
        params += [w.requires_grad_(), torch.zeros(R, 1, units, requires_grad=True)]
        width = units
    opt = torch.optim.Adam(
        params, lr=ADAM["lr"], betas=(ADAM["beta_1"], ADAM["beta_2"]), eps=ADAM["epsilon"]
    )

    def forward(x):
        for j in range(0, len(params), 2):
            x = torch.baddbmm(params[j + 1], x, params[j])
            if j + 2 < len(params):
                x = torch.relu(x)
        return x

    x = torch.from_numpy(stack_padded([f.x_train for f in folds]))
    y = torch.from_numpy(stack_padded([f.y_train for f in folds]))
    counts = [len(f.x_train) for f in folds]
    rngs = [np.random.default_rng(seed + 1000 + f.index) for f in folds]
    replica = torch.arange(R)[:, None]
    clock.fold()
    for _ in range(epochs):
        order = torch.from_numpy(padded_orders(rngs, counts, x.shape[1]))
        for start in range(0, x.shape[1], BATCH):
            rows = order[:, start : start + BATCH]
            opt.zero_grad(set_to_none=True)
            # sum of per-replica means: each replica's gradient is its own MSE's gradient
            loss = ((forward(x[replica, rows]) - y[replica, rows]) ** 2).mean(dim=(1, 2)).sum()
            loss.backward()
            opt.step()
        clock.tick()
    with torch.no_grad():
        pred = forward(torch.from_numpy(stack_padded([f.x_valid for f in folds]))).numpy()
    return [pred[r, : len(f.x_valid)] for r, f in enumerate(folds)]


def run_sklearn(folds, epochs, seed, clock) -> list[np.ndarray]:
    """scikit-learn MLPRegressor, one per fold, Adam with Keras' epsilon, no early stopping."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    preds = []
    for f in folds:
        mlp = MLPRegressor(
            hidden_layer_sizes=(UNITS,) * HIDDEN,
            activation="relu",
            solver="adam",
            alpha=0.0,
            batch_size=BATCH,
            learning_rate_init=ADAM["lr"],
            beta_1=ADAM["beta_1"],
            beta_2=ADAM["beta_2"],
            epsilon=ADAM["epsilon"],
            max_iter=epochs,
            shuffle=True,
            tol=0.0,
            n_iter_no_change=10**9,
            early_stopping=False,
            random_state=seed + f.index,
        )
        clock.fold()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(f.x_train, f.y_train.ravel())
        # sklearn has no per-epoch hook: spread the fit evenly (no warm-up to separate)
        total = time.perf_counter() - clock._last
        clock.epochs[-1] = [total / epochs] * epochs
        preds.append(mlp.predict(f.x_valid).reshape(-1, 1))
    return preds


def run_jax(folds, epochs, seed, clock) -> list[np.ndarray]:
    """JAX (CPU): all folds vmapped, one epoch = one ``jit(vmap(lax.scan over batches))`` call.

    Each replica's epoch is a scan of Adam steps (Keras' formula, as nnforge) over its shuffled,
    padded row order; the order comes from the same generators as nnforge's, the last partial
    batch is one more step, and ``vmap`` runs the folds together as nnforge's replicas do.
    """
    import jax
    import jax.numpy as jnp

    R, n_in = len(folds), folds[0].x_train.shape[1]
    widths = [n_in] + [UNITS] * HIDDEN + [1]
    b1, b2, eps, lr = ADAM["beta_1"], ADAM["beta_2"], ADAM["epsilon"], ADAM["lr"]

    def init(key):
        params = []
        for fan_in, fan_out in itertools.pairwise(widths):
            key, sub = jax.random.split(key)
            limit = (6.0 / (fan_in + fan_out)) ** 0.5  # Glorot uniform, zero biases
            w = jax.random.uniform(sub, (fan_in, fan_out), jnp.float32, -limit, limit)
            params.append((w, jnp.zeros((fan_out,), jnp.float32)))
        return params

    def forward(params, x):
        for i, (w, b) in enumerate(params):
            x = x @ w + b
            if i < len(params) - 1:
                x = jax.nn.relu(x)
        return x

    grad = jax.grad(lambda params, x, y: jnp.mean((forward(params, x) - y) ** 2))

    def step(state, batch):
        params, m, v, t = state
        g = grad(params, *batch)
        t = t + 1.0
        alpha = lr * jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        m = jax.tree.map(lambda m, g: m + (g - m) * (1.0 - b1), m, g)
        v = jax.tree.map(lambda v, g: v + (g * g - v) * (1.0 - b2), v, g)
        params = jax.tree.map(lambda p, m, v: p - alpha * m / (jnp.sqrt(v) + eps), params, m, v)
        return (params, m, v, t), None

    def epoch(state, x, y, order):  # one replica: x (n_max, n_in), order (n_max,)
        full = order.shape[0] // BATCH * BATCH
        xs, ys = x[order[:full]], y[order[:full]]
        batches = (xs.reshape(-1, BATCH, n_in), ys.reshape(-1, BATCH, 1))
        state, _ = jax.lax.scan(step, state, batches)
        if full < order.shape[0]:
            state, _ = step(state, (x[order[full:]], y[order[full:]]))
        return state

    run_epoch = jax.jit(jax.vmap(epoch))
    params = jax.vmap(init)(jnp.stack([jax.random.PRNGKey(seed + f.index) for f in folds]))
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = (params, zeros, zeros, jnp.zeros(R, jnp.float32))
    x = jnp.asarray(stack_padded([f.x_train for f in folds]))
    y = jnp.asarray(stack_padded([f.y_train for f in folds]))
    counts = [len(f.x_train) for f in folds]
    rngs = [np.random.default_rng(seed + 1000 + f.index) for f in folds]
    clock.fold()
    for _ in range(epochs):  # the first epoch includes compilation (the warm-up column)
        order = jnp.asarray(padded_orders(rngs, counts, x.shape[1]))
        state = jax.block_until_ready(run_epoch(state, x, y, order))
        clock.tick()
    pred = np.asarray(
        jax.vmap(forward)(state[0], jnp.asarray(stack_padded([f.x_valid for f in folds])))
    )
    return [pred[r, : len(f.x_valid)] for r, f in enumerate(folds)]


PEERS = {
    "nnforge": run_nnforge,
    "jax": run_jax,
    "torch": run_torch,
    "torch-compile": lambda *a: run_torch(*a, compile_model=True),
    "torch-replicas": run_torch_replicas,
    "sklearn": run_sklearn,
}


def blas_info() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "architecture", "num_threads", "version", "filepath")
    return [{k: v for k, v in info.items() if k in keep} for info in threadpool_info()]


def worker_main(args: argparse.Namespace) -> None:
    """Child process: load the arrays, say READY, wait for GO, train, write results."""
    from threadpoolctl import threadpool_limits

    tag = Path(args.workdir) / args.tag
    if args.worker == "nnforge-api":  # its own preprocessing and worker processes
        import nnforge.training  # noqa: F401  (imported before the clock starts)

        print("READY", flush=True)
        sys.stdin.readline()
        Path(f"{tag}.json").write_text(json.dumps({**run_api(args), "blas": blas_info()}))
        return

    data = np.load(Path(args.workdir) / "folds.npz")
    subset = [int(i) for i in args.subset.split(",")]
    folds = [
        Fold(data[f"xt{i}"], data[f"yt{i}"], data[f"xv{i}"], data[f"yv{i}"], i) for i in subset
    ]
    if args.worker.startswith("torch"):
        import torch

        torch.set_num_threads(args.threads)
    clock = EpochClock()
    run = PEERS[args.worker]
    with threadpool_limits(args.threads):
        blas = blas_info()
        print("READY", flush=True)
        sys.stdin.readline()
        start, cpu = time.time(), time.process_time()
        preds = run(folds, args.epochs, args.seed, clock)
        end, cpu = time.time(), time.process_time() - cpu
    np.savez(f"{tag}.npz", **{f"p{i}": p for i, p in zip(subset, preds, strict=True)})
    Path(f"{tag}.json").write_text(
        json.dumps(
            {
                "start": start,
                "end": end,
                "warmup_s": clock.warmup(),
                "cpu_s": cpu,
                "epoch_s": clock.epochs,
                "blas": blas,
            }
        )
    )


# -- the parent: launch, watch memory, score -----------------------------------------------------


class PeakRSS:
    """Samples the summed RSS of some processes and all their children (psutil) every 20 ms."""

    def __init__(self, pids: list[int]) -> None:
        self.peak = 0
        self._pids = pids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        procs = [psutil.Process(p) for p in self._pids]
        while not self._stop.wait(0.02):
            total = 0
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
                    for child in proc.children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            total += child.memory_info().rss
            self.peak = max(self.peak, total)


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if threads == 1:  # XLA's CPU backend ignores the variables above
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flags}".strip()
    return env


def launch(peer: str, layout: str, folds: list[Fold], args, workdir: Path) -> dict[str, Any]:
    """Run one (peer, layout) in child processes started together; return its timings."""
    api = peer == "nnforge-api"
    procs_n, threads = (1, 1) if api else (int(layout[0]), int(layout[2]))
    subsets = [list(range(len(folds)))[p::procs_n] for p in range(procs_n)]
    subsets = [s for s in subsets if s]
    tags = [f"{peer}-{layout}-{p}" for p in range(len(subsets))]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                peer,
                "--threads",
                str(threads),
                "--subset",
                ",".join(map(str, s)),
                "--workdir",
                str(workdir),
                "--tag",
                tag,
                "--epochs",
                str(args.epochs),
                "--seed",
                str(args.seed),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(threads),
        )
        for s, tag in zip(subsets, tags, strict=True)
    ]
    for proc in procs:  # all children loaded their data and libraries: start them together
        if proc.stdout.readline().strip() != "READY":
            proc.wait()
            return {"error": f"worker exited with code {proc.returncode} before starting"}
    with PeakRSS([p.pid for p in procs]) if _has("psutil") else contextlib.nullcontext() as rss:
        for proc in procs:
            proc.stdin.write("GO\n")
            proc.stdin.flush()
        codes = [proc.wait() for proc in procs]
    if any(codes):
        return {"error": f"worker exit codes {codes} (traceback above)"}
    fold_epochs = len(folds) * args.epochs
    reports = [json.loads((workdir / f"{t}.json").read_text()) for t in tags]
    if api:
        rep = reports[0]
        return {
            "processes": rep["workers"],
            "threads": 1,
            "train_wall_s": rep["end"] - rep["start"],
            "warmup_s": rep["warmup_s"],
            "s_per_fold_epoch": rep["steady_s_per_fold_epoch"],
            "s_per_fold_epoch_incl_warmup": (rep["end"] - rep["start"]) / fold_epochs,
            "preprocess_s": rep["preprocess_s"],
            "evaluate_s": rep["evaluate_s"],
            "peak_rss_mib": rss.peak / 2**20 if rss else None,
            "blas": rep["blas"],
            **{k: rep[k] for k in ("r2_oof", "r2_folds", "r2_norm_log")},
        }
    preds: dict[int, np.ndarray] = {}
    for tag in tags:
        with np.load(workdir / f"{tag}.npz") as z:
            preds.update({int(name[1:]): z[name] for name in z.files})
    wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    warmup = max(r["warmup_s"] for r in reports)
    drift = [late_over_early(times) for r in reports for times in r["epoch_s"]]
    drift = [d for d in drift if d is not None]
    return {
        "late_over_early": float(np.mean(drift)) if drift else None,
        "processes": len(procs),
        "threads": threads,
        "train_wall_s": wall,
        "warmup_s": warmup,
        "s_per_fold_epoch": (wall - warmup) / fold_epochs,
        "s_per_fold_epoch_incl_warmup": wall / fold_epochs,
        "cpu_s_per_fold_epoch": sum(r["cpu_s"] for r in reports) / fold_epochs,
        "peak_rss_mib": rss.peak / 2**20 if rss else None,
        "blas": reports[0]["blas"],
        **scores(folds, preds),
    }


def late_over_early(epoch_s: list[float], window: int | None = None) -> float | None:
    """Mean time of the last ``window`` epochs over the first ``window`` after the first one.

    The first epoch is left out (compilation, caches). Above ~1.2 the run slows down as it goes:
    subnormal floats are the usual cause (docs/DESIGN.md, "Floating-point mode").
    """
    times = epoch_s[1:]
    window = window or len(times) // 4
    if window < 1 or len(times) < 2 * window:
        return None
    return float(np.mean(times[-window:]) / np.mean(times[:window]))


def scores(folds: list[Fold], preds: dict[int, np.ndarray]) -> dict[str, Any]:
    """Held-out R² in dollars (per fold and out-of-fold) and on the normalised log10 target."""
    true = [f.price_valid for f in folds]
    pred = [f.to_dollars(preds[i]) for i, f in enumerate(folds)]
    norm_true = np.concatenate([f.y_valid.ravel() for f in folds])
    norm_pred = np.concatenate([preds[i].ravel() for i in range(len(folds))])
    return {
        "r2_oof": r2(np.concatenate(true), np.concatenate(pred)),
        "r2_folds": [r2(t, p) for t, p in zip(true, pred, strict=True)],
        "r2_norm_log": r2(norm_true, norm_pred),
    }


def _has(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# -- nnforge through its public training API ------------------------------------------------------


def api_model(epochs: int, folds: int, seed: int, validate_every: int = 0):
    """The seed's network as an nnforge Model spec on the KC example dataset spec."""
    from nnforge.model import KFolds, LayerSpec, Model
    from nnforge.nn import Adam

    hidden = LayerSpec(units=UNITS, activation="relu", kernel_initializer="glorot_uniform")
    return Model(
        dataset=benchmark_spec(),
        layers=[hidden] * HIDDEN + [LayerSpec(units=1, activation="linear")],
        loss="mse",
        optimizer=Adam(
            learning_rate=ADAM["lr"],
            beta_1=ADAM["beta_1"],
            beta_2=ADAM["beta_2"],
            epsilon=ADAM["epsilon"],
        ),
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


# -- report --------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """The hardware and libraries every figure depends on (printed first, stored in the JSON)."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numpy": np.__version__,
        "blas": blas_info(),
        "env": {v: os.environ.get(v) for v in OPENBLAS_VARS},
        "date": time.strftime("%Y-%m-%d"),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    for mod in ("torch", "sklearn", "polars", "jax"):
        with contextlib.suppress(ImportError):
            info[mod] = __import__(mod).__version__
    info["subnormals"] = subnormal_penalty()
    return info


def subnormal_penalty(n: int = 40_000, repeat: int = 200) -> dict[str, Any]:
    """An Adam-like update of ``n`` float32 values, normal vs subnormal, and nnforge's guard.

    Some CPUs (Intel's especially) run arithmetic on subnormal floats (below 1.18e-38) many
    times slower; long trainings get there (docs/DESIGN.md, "Floating-point mode").
    """
    from nnforge.nn import fpmode

    def best_of(scale: float) -> float:
        rng = np.random.default_rng(0)
        p, g = (rng.normal(size=(2, n)) * scale).astype(np.float32)
        m, v, tmp = np.full(n, scale, np.float32), np.full(n, scale, np.float32), np.empty_like(p)
        best = np.inf
        for _ in range(repeat):
            start = time.perf_counter()
            np.subtract(g, m, out=tmp)
            tmp *= 0.1
            m += tmp
            np.multiply(g, g, out=tmp)
            tmp -= v
            tmp *= 0.001
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += 1e-7
            np.divide(m, tmp, out=tmp)
            tmp *= 1e-3
            p -= tmp
            best = min(best, time.perf_counter() - start)
        return best

    normal, subnormal = best_of(1e-3), best_of(1e-39)
    with fpmode.flush_denormals():
        flushed = best_of(1e-39)
    return {
        "n": n,
        "normal_us": normal * 1e6,
        "subnormal_us": subnormal * 1e6,
        "subnormal_flushed_us": flushed * 1e6,
        "penalty": subnormal / normal,
        "nnforge_flush_to_zero": fpmode.available(),
        "flush_bits": None if fpmode.FLUSH_BITS is None else hex(fpmode.FLUSH_BITS),
    }


def print_hardware(info: dict[str, Any]) -> None:
    """CPU model, core count, BLAS library and kernel, the subnormal penalty: the first lines."""
    usable = info.get("usable_cpus")
    print(
        f"date {info['date']}; CPU: {info.get('cpu')}, {info['cpus']} logical CPUs"
        + (f" ({usable} usable)" if usable and usable != info["cpus"] else "")
        + f"; 1-min load {os.getloadavg()[0]:.2f}"
    )
    blas = ", ".join(
        f"{b.get('internal_api')} {b.get('version')} kernel {b.get('architecture')}"
        f" ({b.get('num_threads')} threads)"
        for b in info["blas"]
    )
    libs = ", ".join(f"{m} {info[m]}" for m in ("torch", "sklearn", "jax") if m in info)
    print(f"BLAS (threadpoolctl): {blas or 'unknown'}; numpy {info['numpy']}; {libs}")
    sub = info["subnormals"]
    print(
        f"subnormal floats: an Adam update of {sub['n'] // 1000}k float32 takes "
        f"{sub['normal_us']:.0f} µs normal, {sub['subnormal_us']:.0f} µs subnormal "
        f"({sub['penalty']:.1f}x), {sub['subnormal_flushed_us']:.0f} µs with flush-to-zero; "
        f"nnforge flush-to-zero: {'on' if sub['nnforge_flush_to_zero'] else 'UNAVAILABLE'}",
        flush=True,
    )


def print_table(rows: list[dict[str, Any]], best: dict[str, Any] | None) -> None:
    head = (
        f"{'peer':<15}{'layout':<7}{'s/fold-epoch':>13}{'cpu s/f-e':>10}{'warm-up s':>10}"
        f"{'nnforge/peer':>13}{'speed-up':>9}{'R² $ oof':>10}{'R² log':>8}{'peak MiB':>9}"
        f"{'late/early':>11}{'load':>6}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        if "s_per_fold_epoch" not in row:
            print(f"{row['peer']:<15}{row['layout']:<7}  {row.get('skipped') or row.get('error')}")
            continue
        ratio = row.get("nnforge_over_peer")
        speed = f"{1 / ratio:>8.1f}x" if ratio else f"{'':>9}"
        norm, cpu = row.get("r2_norm_log"), row.get("cpu_s_per_fold_epoch")
        print(
            f"{row['peer']:<15}{row['layout']:<7}{row['s_per_fold_epoch']:>13.4f}"
            f"{(f'{cpu:.4f}' if cpu else ''):>10}{row['warmup_s']:>10.2f}"
            f"{(f'{ratio:.3f}' if ratio else ''):>13}{speed}{row['r2_oof']:>10.4f}"
            f"{(f'{norm:.4f}' if norm is not None else ''):>8}"
            f"{(row['peak_rss_mib'] or 0):>9.0f}"
            f"{(f'{drift:.2f}' if (drift := row.get('late_over_early')) else ''):>11}"
            f"{row['load_before']:>6.1f}"
        )
    if best:
        print(
            f"\nnnforge reference: {best['peer']} {best['layout']} "
            f"({best['s_per_fold_epoch']:.4f} s per fold-epoch); speed-up = peer / nnforge. "
            "late/early: time of the last quarter of the epochs over the first quarter (after "
            "the first epoch; > 1.2: the run slows down, e.g. subnormal floats). "
            "load: 1-min load average before the row (2 cores; > 0.5 means other work ran)"
        )


def bench(args: argparse.Namespace) -> dict[str, Any]:
    info = machine_info()
    print_hardware(info)
    path = data_path(args.data)
    if any(info["env"].values()):
        print(f"warning: {info['env']} is set; numbers may be distorted (make bench unsets it)")
    t0 = time.perf_counter()
    folds, names, prep = prepare(path, args.folds, args.seed, args.prep)
    prep_s = time.perf_counter() - t0
    print(
        f"data: {path} ({sum(len(f.x_valid) for f in folds)} rows, {len(names)} inputs, "
        f"{args.folds} folds, {args.epochs} epochs; {prep})"
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="nnforge-bench-") as tmp:
        workdir = Path(tmp)
        arrays = {}
        for i, f in enumerate(folds):
            arrays.update(
                {f"xt{i}": f.x_train, f"yt{i}": f.y_train, f"xv{i}": f.x_valid, f"yv{i}": f.y_valid}
            )
        np.savez(workdir / "folds.npz", **arrays)
        for peer in args.peers:
            layouts = args.layouts.get(peer, DEFAULT_LAYOUTS[peer])
            missing = not _has(PEER_NEEDS[peer])
            for layout in layouts:
                row: dict[str, Any] = {"peer": peer, "layout": layout}
                row["load_before"] = os.getloadavg()[0]  # other work on the machine skews it
                if missing:
                    row["skipped"] = f"{PEER_NEEDS[peer]} is not installed; skipped"
                else:
                    row.update(launch(peer, layout, folds, args, workdir))
                rows.append(row)
                if "s_per_fold_epoch" in row:
                    print(
                        f"  {peer} {layout}: {row['s_per_fold_epoch']:.4f} s/fold-epoch, "
                        f"R² {row['r2_oof']:.4f}",
                        flush=True,
                    )
                else:
                    print(f"  {peer} {layout}: {row.get('skipped') or row.get('error')}")
    timed = [r for r in rows if "s_per_fold_epoch" in r]
    ours = [r for r in timed if r["peer"].startswith("nnforge")]
    best = min(ours, key=lambda r: r["s_per_fold_epoch"]) if ours else None
    if best:
        for row in timed:
            row["nnforge_over_peer"] = best["s_per_fold_epoch"] / row["s_per_fold_epoch"]
    print()
    print_table(rows, best)
    return {
        "mode": "per-epoch",
        "machine": info,
        "config": {
            "folds": args.folds,
            "epochs": args.epochs,
            "seed": args.seed,
            "batch": BATCH,
            "hidden": [UNITS] * HIDDEN,
            "adam": ADAM,
            "dtype": "float32",
            "n_inputs": len(names),
            "inputs": names,
            "preprocessing": prep,
            "preprocess_s": prep_s,
        },
        "nnforge_reference": best and {"peer": best["peer"], "layout": best["layout"]},
        "results": rows,
    }


# -- the complete run ------------------------------------------------------------------------------


def full_train_main(spec: str, data: str, out_dir: str) -> None:
    """Child process of ``--full``: ``nnforge.training.train`` as ``nnforge train`` runs it
    (workers, validation every epoch, the run directory), recording when each fold's epoch
    ends in ``OUT_DIR.epochs.json`` for the steady-state ratio."""
    from nnforge.model import Model
    from nnforge.training import Callback, train

    ends: dict[int, list[float]] = {}

    class EpochEnds(Callback):
        def on_train_begin(self, info) -> None:
            self.begin = time.perf_counter()

        def on_epoch_end(self, m) -> None:
            ends.setdefault(m.fold, []).append(time.perf_counter() - self.begin)

    train(Model.from_json_file(spec), data, out_dir=out_dir, callbacks=[EpochEnds()])
    Path(f"{out_dir}.epochs.json").write_text(json.dumps({str(k): v for k, v in ends.items()}))


def steady_state(ends: dict[str, list[float]], window: int = 50) -> dict[str, Any]:
    """Per-epoch seconds (folds in parallel, as they train) of the first ``window`` epochs after
    the first one and of the last ``window``, from the times each epoch ended; their ratio is
    the slow-down over the run."""
    per_epoch = np.diff(np.array([[0.0, *v] for v in ends.values()]), axis=1)  # (folds, epochs)
    per_epoch = per_epoch[:, 1:]  # the first epoch also pays for starting the workers
    window = min(window, per_epoch.shape[1] // 2)
    first = float(per_epoch[:, :window].mean())
    last = float(per_epoch[:, -window:].mean())
    return {"window": window, "first_s": first, "last_s": last, "last_over_first": last / first}


def full(args: argparse.Namespace) -> dict[str, Any]:
    """8 folds x 500 epochs end to end, then permutation importance and batch inference."""
    import resource

    info = machine_info()
    print_hardware(info)
    path = data_path(args.data)
    epochs = args.epochs or 500
    result: dict[str, Any] = {"mode": "full", "machine": info, "data": str(path)}
    result["load_before"] = os.getloadavg()[0]  # other work on the 2 cores skews every figure
    with tempfile.TemporaryDirectory(prefix="nnforge-full-") as tmp:
        spec_file, out_dir = Path(tmp) / "model.json", Path(tmp) / "run"
        # a shipped spec (the main job by default), as `make demo` runs it
        from nnforge.demos import EXAMPLES, example_spec
        from nnforge.model import KFolds, Model

        spec = example_spec(args.spec) if args.spec in EXAMPLES else Path(args.spec)
        model = Model.from_json_file(spec).with_overrides(
            epochs=epochs, trainer=KFolds(k=args.folds), seed=args.seed
        )
        result["spec"] = args.spec
        model.to_json_file(spec_file)
        how = "nnforge.training.train (as `nnforge train`)"
        cmd = [sys.executable, __file__, "--full-worker", str(spec_file), str(path), str(out_dir)]
        print(f"full run: {args.folds} folds x {epochs} epochs through {how} ...", flush=True)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd)  # as a user runs it: the trainer picks its own threads
        watch = PeakRSS([proc.pid]) if _has("psutil") else contextlib.nullcontext()
        with watch as rss:
            code = proc.wait()
        wall = time.perf_counter() - start
        if code:
            result["error"] = f"training exited with code {code}"
            return result
        evaluation = json.loads((out_dir / "evaluation.json").read_text())["summary"]
        children_maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        steady = steady_state(json.loads(Path(f"{out_dir}.epochs.json").read_text()))
        result["train"] = {
            "steady_state": steady,
            "how": how,
            "folds": args.folds,
            "epochs": epochs,
            "wall_s": wall,
            "peak_rss_mib": rss.peak / 2**20 if rss else None,
            "max_child_rss_mib": children_maxrss,
            "validate_every": model.validate_every,
            "summary": evaluation,
        }
        peak = rss.peak / 2**20 if rss else children_maxrss
        print(
            f"  wall {wall:.1f} s (target <= 60), peak RSS {peak:.0f} MiB "
            f"(target < 1024), out-of-fold R² {evaluation.get('oof_r2')}\n"
            f"  steady state: {steady['first_s'] * 1e3:.1f} ms per epoch over the first "
            f"{steady['window']} epochs, {steady['last_s'] * 1e3:.1f} ms over the last "
            f"{steady['window']}: last/first {steady['last_over_first']:.2f} (target <= 1.2)",
            flush=True,
        )
        result["importance"] = time_importance(out_dir)
        result["inference"] = time_inference(out_dir)
    return result


def time_importance(run_dir: Path) -> dict[str, Any]:
    """``nnforge.inspection.run_importance``: 34 features x 10 shuffles, all held-out rows."""
    from nnforge.inspection import run_importance

    start, load = time.perf_counter(), os.getloadavg()[0]
    features, groups = run_importance(run_dir, n_shuffles=10)  # BLAS threads as a user gets them
    wall = time.perf_counter() - start
    print(
        f"  permutation importance: {wall:.2f} s (target < 10) for {features.height} features "
        f"and {groups.height} source columns x 10 shuffles",
        flush=True,
    )
    return {
        "wall_s": wall,
        "load_before": load,
        "n_features": features.height,
        "n_groups": groups.height,
        "n_shuffles": 10,
        "top": features.head(5).to_dicts(),
    }


def time_inference(run_dir: Path, rows: int = 2_000_000) -> dict[str, Any]:
    """Rows per second through the best fold's network, on ``rows`` preprocessed rows."""
    from threadpoolctl import threadpool_limits

    from nnforge.nn import Network

    net = Network.load(run_dir / "models" / "best")
    x = np.random.default_rng(0).random((rows, net.n_inputs), dtype=np.float32)
    out: dict[str, Any] = {"rows": rows}
    for threads in (1, 2):
        with threadpool_limits(threads):
            net.predict(x[:10_000])
            start = time.perf_counter()
            net.predict(x)
            wall = time.perf_counter() - start
        out[f"rows_per_s_{threads}t"] = rows / wall
        print(
            f"  inference, {threads} BLAS thread(s): {rows / wall / 1e6:.2f} M rows/s "
            "(target >= 1)",
            flush=True,
        )
    return out


# -- entry point ---------------------------------------------------------------------------------


def parse_layouts(text: str | None) -> dict[str, tuple[str, ...]]:
    """``torch=1p1t+2p1t,sklearn=1p1t`` -> {peer: layouts}."""
    out: dict[str, tuple[str, ...]] = {}
    for item in filter(None, (text or "").split(",")):
        peer, _, layouts = item.partition("=")
        out[peer] = tuple(layouts.split("+"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, help="default 40 (--full: 500)")
    parser.add_argument("--folds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", help="kc_house_data.csv (default: $NNFORGE_DATA_DIR, shared/)")
    parser.add_argument(
        "--peers",
        default=",".join(DEFAULT_LAYOUTS),
        help=f"comma-separated subset of {', '.join(DEFAULT_LAYOUTS)}",
    )
    parser.add_argument("--layouts", help="override layouts, e.g. torch=1p1t+2p1t,nnforge=1p1t")
    parser.add_argument("--workers", type=int, default=2, help="nnforge-api worker processes")
    parser.add_argument("--json", type=Path, help="output file (default benchmarks/results/)")
    parser.add_argument(
        "--prep",
        choices=("auto", "nnforge", "plain"),
        default="auto",
        help="preprocessing shared by every peer (auto: nnforge's pipeline when available)",
    )
    parser.add_argument("--full", action="store_true", help="time the 8x500 run end to end")
    parser.add_argument(
        "--spec",
        default="king-county",
        help="--full: the model spec to run, a packaged example name or a file (default: "
        "king-county, the tuned spec `make demo` runs; king-county-seed is the seed's own)",
    )
    # internal: one worker process of one (peer, layout)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--subset", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--tag", help=argparse.SUPPRESS)
    parser.add_argument("--full-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.full_worker:
        full_train_main(*args.full_worker)
        return 0
    if args.worker:
        worker_main(args)
        return 0
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = sorted(set(args.peers) - set(DEFAULT_LAYOUTS))
    if unknown:
        parser.error(f"unknown peers {unknown}; choose from {', '.join(DEFAULT_LAYOUTS)}")
    args.layouts = parse_layouts(args.layouts)
    if args.full:
        result = full(args)
        out = args.json or RESULTS / "seed_workload_full.json"
    else:
        args.epochs = args.epochs or 40
        result = bench(args)
        out = args.json or RESULTS / "seed_workload.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
