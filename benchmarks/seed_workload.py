"""The seed's King County workload, timed with nnforge and its peers in one run.

The network is the seed's final one: 34 inputs, 8 hidden ReLU layers of 35 units, a linear output,
Glorot uniform kernels, zero biases, MSE, Adam with Keras' defaults (lr 1e-3, beta_1 0.9,
beta_2 0.999, epsilon 1e-7), batch 128, float32, k folds. Every peer trains the same folds from
the same preprocessed arrays for the same number of epochs and is scored on the same held-out
rows, in dollars (log10 and min-max reverted).

Each (peer, layout) runs in fresh child processes so that thread settings and peak memory are its
own. A layout is ``1p1t`` (one process, one BLAS/torch thread), ``1p2t`` (one process, two
threads) or ``2p1t`` (the folds split over two processes of one thread each, started together).
One-thread processes are pinned to a core each (``sched_setaffinity``), so that ``1p1t`` is a
per-core figure for every peer (XLA's helper threads otherwise spread over both cores).

This file is the harness (launch, watch memory, score); the workload and the folds are
in ``_workload.py``, each library's peer in ``_peers_<library>.py``, the header and the table
in ``_seed_report.py``, all beside it.

Usage::

    python benchmarks/seed_workload.py                      # 8 folds x 40 epochs, every peer
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _machine  # benchmarks/_machine.py and the modules below: beside this script
import _peers_jax
import _peers_nnforge
import _peers_sklearn
import _peers_torch
import numpy as np
from _memory import TreeMemory
from _seed_report import machine_info, print_hardware, print_table
from _workload import ADAM, BATCH, HIDDEN, UNITS, EpochClock, Fold, data_path, installed, prepare

RESULTS = Path(__file__).resolve().parent / "results"

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


PEERS = {
    "nnforge": _peers_nnforge.run_nnforge,
    "jax": _peers_jax.run_jax,
    "torch": _peers_torch.run_torch,
    "torch-compile": lambda *a: _peers_torch.run_torch(*a, compile_model=True),
    "torch-replicas": _peers_torch.run_torch_replicas,
    "sklearn": _peers_sklearn.run_sklearn,
}


def worker_main(args: argparse.Namespace) -> None:
    """Child process: load the arrays, say READY, wait for GO, train, write results."""
    from threadpoolctl import threadpool_limits

    tag = Path(args.workdir) / args.tag
    if args.worker == "nnforge-api":  # its own preprocessing and worker processes
        import nnforge.training  # noqa: F401  (imported before the clock starts)

        print("READY", flush=True)
        sys.stdin.readline()
        Path(f"{tag}.json").write_text(
            json.dumps({**_peers_nnforge.run_api(args), "blas": _machine.blas_info()})
        )
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
        blas = _machine.blas_info()
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


def peak_rss(pids: list[int]) -> Any:
    """The trees' RSS sampled every 20 ms (no PSS: cheap enough to watch a timed run); a
    context giving None when psutil is missing."""
    if not installed("psutil"):
        return contextlib.nullcontext()
    return TreeMemory(pids, interval=0.02, pss_every=0)


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if threads == 1:  # XLA's CPU backend ignores the variables above
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flags}".strip()
    return env


def pin_to_core(p: int):
    """For a one-thread process: run it on one core only (the p-th this process may use), so that
    "per core" means one core for every peer (XLA keeps helper threads that would otherwise
    spread over both cores even with its thread flags)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    core = cores[p % len(cores)]
    return lambda: os.sched_setaffinity(0, {core})


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
            preexec_fn=pin_to_core(p) if threads == 1 and not api else None,
        )
        for p, (s, tag) in enumerate(zip(subsets, tags, strict=True))
    ]
    for proc in procs:  # all children loaded their data and libraries: start them together
        if proc.stdout.readline().strip() != "READY":
            proc.wait()
            return {"error": f"worker exited with code {proc.returncode} before starting"}
    with peak_rss([p.pid for p in procs]) as rss:
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
            "peak_rss_mib": rss.peak_rss / 2**20 if rss else None,
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
        "peak_rss_mib": rss.peak_rss / 2**20 if rss else None,
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


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true, np.float64).ravel(), np.asarray(y_pred, np.float64).ravel()
    return float(1.0 - np.sum((y_true - y_pred) ** 2) / np.sum((y_true - y_true.mean()) ** 2))


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
            missing = not installed(PEER_NEEDS[peer])
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
        with peak_rss([proc.pid]) as rss:
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
            "peak_rss_mib": rss.peak_rss / 2**20 if rss else None,
            "max_child_rss_mib": children_maxrss,
            "validate_every": model.validate_every,
            "summary": evaluation,
        }
        peak = rss.peak_rss / 2**20 if rss else children_maxrss
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
