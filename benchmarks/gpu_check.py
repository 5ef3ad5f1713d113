"""The JAX backend on a GPU host: the full tuned King County run and 64 replicas, timed.

Meant for a GPU machine without registry access that has Python with JAX (CUDA), NumPy,
matplotlib and safetensors but not Polars or pydantic. Run from the repository root::

    python benchmarks/gpu_check.py [--data kc_house_data.csv] [--epochs 500]

What it does:

1. Installs what nnforge needs and the host lacks (Polars, pydantic, threadpoolctl) from the
   wheels in ``benchmarks/wheels/`` (``pip install --no-index --find-links``), then imports
   nnforge from ``src/`` (no install of nnforge itself).
2. The full tuned run (the packaged ``king-county`` spec: 8 folds x 500 epochs, validation
   every epoch) through ``nnforge train --backend jax`` in a fresh process: end-to-end wall time
   (target <= 15 s), the trainer's seconds per fold-epoch, R² in dollars.
3. The compiled epoch alone on the same arrays (no validation, no trainer): seconds per
   fold-epoch, to compare with the hand-written ``jit(vmap(lax.scan))`` design of issue 16
   (0.00128 s per fold-epoch on an H200; target within 1.5x).
4. 64 replicas in one network (the 8 folds x 8 seeds), 500 epochs, validation every epoch on
   the device: wall time and seconds per replica-epoch (issue 16's hand-written design: 0.00023).

Prepare the wheels on a machine with registry access, for the GPU host's Python version and
platform (here 3.11 on x86-64 Linux)::

    pip download --dest benchmarks/wheels --only-binary=:all: --python-version 3.11 \\
        --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \\
        "polars>=1.0" "pydantic>=2.5" "threadpoolctl>=3.2"

The King County data is looked up as nnforge does (``--data``, ``$NNFORGE_DATA_DIR``,
``./data/``, the user cache, then the copy shipped in the package). Results are
printed and written to ``benchmarks/results/gpu_check.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WHEELS = Path(__file__).resolve().parent / "wheels"
RESULTS = ROOT / "benchmarks" / "results"
NEEDS = {
    "polars": "polars>=1.0",
    "pydantic": "pydantic>=2.5",
    "threadpoolctl": "threadpoolctl>=3.2",
}
CLI = "import sys; from nnforge.cli import main; sys.exit(main())"
TARGETS = {"full_run_s": 15.0, "epoch_s_per_fold_epoch": 1.5 * 0.00128}


def install_missing() -> list[str]:
    """Install the missing dependencies from the wheels beside this script; returns them."""
    missing = [spec for name, spec in NEEDS.items() if importlib.util.find_spec(name) is None]
    if missing:
        if not WHEELS.is_dir():
            sys.exit(f"gpu_check: missing {missing} and no {WHEELS} (see this file's docstring)")
        pip = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(WHEELS)]
        subprocess.run([*pip, *missing], check=True)
    sys.path.insert(0, str(ROOT / "src"))
    return missing


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln), "")


def full_run(data: Path, epochs: int | None, tmp: Path) -> dict[str, Any]:
    """``nnforge train SPEC --backend jax`` in a fresh process, end to end."""
    out = tmp / "full"
    argv = [sys.executable, "-c", CLI, "train", str(spec()), "--backend", "jax", "--quiet"]
    argv += ["--data", str(data), "--out", str(out)]
    if epochs:
        argv += ["--epochs", str(epochs)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    summary = json.loads((out / "evaluation.json").read_text())["summary"]
    return {
        "wall_s": round(wall, 2),
        "train_wall_s": summary["wall_seconds"],
        "s_per_fold_epoch": summary["wall_seconds"] / (summary["k"] * summary["epochs"]),
        "oof_r2": summary["oof_r2"],
        "mean_fold_r2": summary["mean_fold_r2"],
        "folds": summary["k"],
        "epochs": summary["epochs"],
    }


def folds(model: Any, data: Path) -> list[dict[str, Any]]:
    """The k folds' arrays, preprocessed and split as ``KFoldTrainer`` does for the seed."""
    import numpy as np

    from nnforge.data import Pipeline, derive

    frame = derive(model.dataset, data, cache=False)
    rng = np.random.default_rng(np.random.SeedSequence(model.seed).spawn(4)[0])
    parts = np.array_split(rng.permutation(frame.height), model.trainer.k)
    out = []
    for held in parts:
        is_valid = np.zeros(frame.height, dtype=bool)
        is_valid[held] = True
        train_frame = frame[np.flatnonzero(~is_valid)]
        pipe = Pipeline(model.dataset).fit(train_frame)
        _, x, y = pipe.to_arrays(pipe.transform(train_frame, training=True), dtype=model.dtype)
        _, xv, yv = pipe.to_arrays(pipe.transform(frame[np.sort(held)]), dtype=model.dtype)
        out.append({"x": x, "y": y, "xv": xv, "yv": yv, "pipe": pipe})
    return out


def _stack(arrays: list[Any]) -> tuple[Any, Any]:
    import numpy as np

    counts = np.array([len(a) for a in arrays])
    out = np.zeros((len(arrays), counts.max(), arrays[0].shape[1]), arrays[0].dtype)
    for r, a in enumerate(arrays):
        out[r, : len(a)] = a
    return out, counts


def replicas(model: Any, fold_data: list[dict], seeds: int, epochs: int) -> dict[str, Any]:
    """``len(fold_data) * seeds`` replicas in one JAX network, validated every epoch; also the
    compiled epoch alone for the first ``len(fold_data)`` replicas."""
    import numpy as np

    from nnforge.metrics import r2_score
    from nnforge.nn import backends

    which = [f for _ in range(seeds) for f in range(len(fold_data))]
    x, n = _stack([fold_data[f]["x"] for f in which])
    y, _ = _stack([fold_data[f]["y"] for f in which])
    xv, nv = _stack([fold_data[f]["xv"] for f in which])
    net = model.build_network(x.shape[2], seeds=list(range(len(which))))
    runner = backends.get("jax")(net).bind(x, y, model.batch_size)
    rngs = [np.random.default_rng(r) for r in range(len(which))]

    def order() -> Any:
        return np.stack(
            [np.resize(g.permutation(int(k)), x.shape[1]) for g, k in zip(rngs, n, strict=True)]
        )

    runner.run_epoch(order())  # compile
    runner.predict(xv)
    start = time.perf_counter()
    for _ in range(epochs - 1):
        runner.run_epoch(order())
        runner.predict(xv)
    wall = time.perf_counter() - start
    pred = runner.predict(xv)
    r2 = [
        r2_score(
            fold_data[f]["pipe"].inverse_transform_outputs(fold_data[f]["yv"].astype("float64")),
            fold_data[f]["pipe"].inverse_transform_outputs(pred[r, : nv[r]].astype("float64")),
        )
        for r, f in enumerate(which)
    ]
    return {
        "replicas": len(which),
        "epochs_timed": epochs - 1,
        "wall_s": round(wall, 2),
        "s_per_replica_epoch": wall / ((epochs - 1) * len(which)),
        "mean_r2": float(np.mean(r2)),
    }


def epoch_only(model: Any, fold_data: list[dict], epochs: int) -> dict[str, Any]:
    """The compiled epoch of the 8 folds alone (no validation, no trainer)."""
    import numpy as np

    from nnforge.nn import backends

    x, n = _stack([f["x"] for f in fold_data])
    y, _ = _stack([f["y"] for f in fold_data])
    net = model.build_network(x.shape[2], seeds=list(range(len(fold_data))))
    runner = backends.get("jax")(net).bind(x, y, model.batch_size)
    rng = np.random.default_rng(0)
    orders = [np.stack([np.resize(rng.permutation(int(k)), x.shape[1]) for k in n])] * 2
    runner.run_epoch(orders[0])  # compile
    start = time.perf_counter()
    for e in range(epochs):
        runner.run_epoch(orders[e % 2])
    wall = time.perf_counter() - start
    return {"epochs": epochs, "wall_s": round(wall, 2), "s_per_fold_epoch": wall / (epochs * 8)}


def spec() -> Path:
    """The tuned King County spec shipped in the package (what `make demo` trains)."""
    from nnforge.demos import example_spec

    return example_spec("king-county")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="kc_house_data.csv (default: nnforge's lookup)")
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=8, help="seeds per fold for the replicas")
    parser.add_argument("--json", type=Path, help="output file (default benchmarks/results/)")
    args = parser.parse_args(argv)
    installed = install_missing()

    import jax

    from nnforge.datasets import king_county_path
    from nnforge.model import Model

    data = king_county_path(args.data)
    devices = [f"{d.platform}:{getattr(d, 'device_kind', d)}" for d in jax.devices()]
    print(f"JAX {jax.__version__} on {devices}; CPU: {cpu_model()}, {os.cpu_count()} cores")
    if installed:
        print(f"installed from {WHEELS}: {installed}")
    model = Model.from_json_file(spec()).with_overrides(backend="jax")
    result: dict[str, Any] = {"devices": devices, "jax": jax.__version__, "cpu": cpu_model()}
    with tempfile.TemporaryDirectory(prefix="nnforge-gpu-") as tmp:
        result["full_run"] = full = full_run(data, args.epochs, Path(tmp))
    print(
        f"full run (nnforge train --backend jax, {full['folds']} x {full['epochs']}): "
        f"{full['wall_s']} s end to end (target <= {TARGETS['full_run_s']} s), "
        f"{full['s_per_fold_epoch']:.5f} s/fold-epoch in the trainer, "
        f"out-of-fold R² {full['oof_r2']:.4f}"
    )
    fold_data = folds(model, data)
    result["epoch_only"] = alone = epoch_only(model, fold_data, min(args.epochs, 100))
    print(
        f"compiled epoch alone, 8 folds: {alone['s_per_fold_epoch']:.5f} s/fold-epoch "
        f"(target <= {TARGETS['epoch_s_per_fold_epoch']:.5f})"
    )
    result["replicas"] = many = replicas(model, fold_data, args.seeds, args.epochs)
    print(
        f"{many['replicas']} replicas ({len(fold_data)} folds x {args.seeds} seeds), "
        f"{args.epochs} epochs with validation: {many['wall_s']} s, "
        f"{many['s_per_replica_epoch']:.6f} s/replica-epoch, mean R² {many['mean_r2']:.4f}"
    )
    path = args.json or RESULTS / "gpu_check.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
