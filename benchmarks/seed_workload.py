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
    "torch": ("1p1t", "1p2t", "2p1t"),
    "torch-compile": ("1p1t",),
    "torch-replicas": ("1p1t", "2p1t"),
    "sklearn": ("1p1t", "2p1t"),
}
PEER_NEEDS = {
    "nnforge": "nnforge.nn",
    "nnforge-api": "nnforge.training",
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
    """The King County CSV: ``--data``, $NNFORGE_DATA_DIR, or ../shared/datasets."""
    candidates = [Path(arg)] if arg else []
    if os.environ.get("NNFORGE_DATA_DIR"):
        candidates.append(Path(os.environ["NNFORGE_DATA_DIR"]) / "kc_house_data.csv")
    candidates.append(ROOT.parent / "shared" / "datasets" / "kc_house_data.csv")
    for path in candidates:
        if path.is_file():
            return path
    msg = f"kc_house_data.csv not found; tried {', '.join(map(str, candidates))}. Pass --data PATH"
    raise SystemExit(msg)


def split_rows(n_rows: int, k: int, seed: int) -> list[np.ndarray]:
    """The held-out rows of each fold, drawn as nnforge's trainer draws them for this seed."""
    from nnforge.model import KFolds
    from nnforge.training import split_rows as nnforge_split_rows

    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[0])
    return nnforge_split_rows(KFolds(k=k), n_rows, rng)


def plain_features(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The seed's 34 inputs and log10(price), before min-max, with plain Polars."""
    import polars as pl

    df = pl.read_csv(path, infer_schema_length=0).drop(
        "id", "zipcode", "sqft_living15", "sqft_lot15"
    )
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


PEERS = {
    "nnforge": run_nnforge,
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
    keep = ("user_api", "internal_api", "architecture", "num_threads", "version", "prefix")
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
    return {
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
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "blas": blas_info(),
        "env": {v: os.environ.get(v) for v in OPENBLAS_VARS},
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    for mod in ("torch", "sklearn", "polars"):
        with contextlib.suppress(ImportError):
            info[mod] = __import__(mod).__version__
    return info


def print_table(rows: list[dict[str, Any]], best: dict[str, Any] | None) -> None:
    head = (
        f"{'peer':<15}{'layout':<7}{'s/fold-epoch':>13}{'cpu s/f-e':>10}{'warm-up s':>10}"
        f"{'nnforge/peer':>13}{'speed-up':>9}{'R² $ oof':>10}{'R² log':>8}{'peak MiB':>9}"
        f"{'load':>6}"
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
            f"{(row['peak_rss_mib'] or 0):>9.0f}{row['load_before']:>6.1f}"
        )
    if best:
        print(
            f"\nnnforge reference: {best['peer']} {best['layout']} "
            f"({best['s_per_fold_epoch']:.4f} s per fold-epoch); speed-up = peer / nnforge. "
            "load: 1-min load average before the row (2 cores; > 0.5 means other work ran)"
        )


def bench(args: argparse.Namespace) -> dict[str, Any]:
    path = data_path(args.data)
    info = machine_info()
    if any(info["env"].values()):
        print(f"warning: {info['env']} is set; numbers may be distorted (make bench unsets it)")
    t0 = time.perf_counter()
    folds, names, prep = prepare(path, args.folds, args.seed, args.prep)
    prep_s = time.perf_counter() - t0
    print(
        f"data: {path} ({sum(len(f.x_valid) for f in folds)} rows, {len(names)} inputs, "
        f"{args.folds} folds, {args.epochs} epochs); BLAS: "
        + ", ".join(f"{b.get('internal_api')} {b.get('architecture')}" for b in info["blas"])
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


def train_command(spec: Path, data: Path, out_dir: Path) -> tuple[list[str], str]:
    """`nnforge train` when the CLI has it, else the same through ``nnforge.training.train``."""
    exe = Path(sys.executable).with_name("nnforge")
    if exe.is_file():
        probe = subprocess.run([str(exe), "train", "--help"], capture_output=True, text=True)
        if probe.returncode == 0:
            cmd = [str(exe), "train", str(spec), "--data", str(data), "--out", str(out_dir)]
            return cmd, "nnforge train (CLI)"
    code = (
        "import sys; from nnforge.model import Model; from nnforge.training import train; "
        "train(Model.from_json_file(sys.argv[1]), sys.argv[2], out_dir=sys.argv[3], progress=False)"
    )
    return [
        sys.executable,
        "-c",
        code,
        str(spec),
        str(data),
        str(out_dir),
    ], "nnforge.training.train"


def full(args: argparse.Namespace) -> dict[str, Any]:
    """8 folds x 500 epochs end to end, then permutation importance and batch inference."""
    import resource

    path = data_path(args.data)
    epochs = args.epochs or 500
    info = machine_info()
    result: dict[str, Any] = {"mode": "full", "machine": info, "data": str(path)}
    result["load_before"] = os.getloadavg()[0]  # other work on the 2 cores skews every figure
    with tempfile.TemporaryDirectory(prefix="nnforge-full-") as tmp:
        spec_file, out_dir = Path(tmp) / "model.json", Path(tmp) / "run"
        # a shipped spec (the main job by default), as `make demo` runs it
        from nnforge.model import KFolds, Model

        model = Model.from_json_file(ROOT / args.spec).with_overrides(
            epochs=epochs, trainer=KFolds(k=args.folds), seed=args.seed
        )
        result["spec"] = args.spec
        model.to_json_file(spec_file)
        cmd, how = train_command(spec_file, path, out_dir)
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
        result["train"] = {
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
            f"  wall {wall:.1f} s (target < 60), peak RSS {peak:.0f} MiB "
            f"(target < 1024), out-of-fold R² {evaluation.get('oof_r2')}",
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
    parser.add_argument("--epochs", type=int, help="default 20 (--full: 500)")
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
        default="examples/king_county/spec.json",
        help="--full: the model spec to run (default: the shipped, tuned King County spec; "
        "examples/king_county/seed_spec.json is the seed's own model)",
    )
    # internal: one worker process of one (peer, layout)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--subset", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--tag", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
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
        args.epochs = args.epochs or 20
        result = bench(args)
        out = args.json or RESULTS / "seed_workload.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
