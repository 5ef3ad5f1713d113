"""The full King County run through ``nnforge train --backend numpy`` and ``--backend jax``.

Each backend trains the same spec (by default the tuned ``king-county`` spec of the package: 8
folds x 500 epochs, validation every epoch) in a fresh ``nnforge train`` process, one after the
other, alternating backends when ``--repeats`` > 1. Reported per run: the process's wall time
(imports, preprocessing, JAX compilation and writing the run included), the trainer's own wall
time, seconds per fold-epoch, CPU seconds, the ratio to the NumPy run of the same repeat, the
run's R² in dollars, and the 1-minute load average before and after (the machine may be shared:
compare ratios, not seconds).

Usage::

    python benchmarks/backends.py                      # the full tuned run, both backends
    python benchmarks/backends.py --epochs 50 --repeats 2
    python benchmarks/backends.py --spec king-county-seed   # or a spec file

Run it through ``make bench`` (or ``make bench-backends``), which unsets ``OPENBLAS_CORETYPE`` /
``OPENBLAS_L2_SIZE``. Results also go to ``benchmarks/results/backends.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _machine  # benchmarks/_machine.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CLI = "import sys; from nnforge.cli import main; sys.exit(main())"


def machine() -> dict[str, Any]:
    """The shared hardware header (``_machine.machine``), the OpenBLAS variables, and JAX's
    version and devices (probed in a child: importing JAX starts threads)."""
    probe = "import jax; print(jax.__version__, [str(d) for d in jax.devices()])"
    jax = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return {
        **_machine.machine(),
        "jax": jax.stdout.strip() or f"not installed ({jax.stderr.strip().splitlines()[-1]})",
        "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
    }


def run_train(spec: Path, backend: str, epochs: int | None, data: str | None, out: Path) -> dict:
    """One ``nnforge train`` process; its wall and CPU time and the run's summary."""
    argv = [sys.executable, "-c", CLI, "train", str(spec), "--backend", backend, "--quiet"]
    argv += ["--out", str(out)]
    if epochs:
        argv += ["--epochs", str(epochs)]
    if data:
        argv += ["--data", data]
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        return {"backend": backend, "error": proc.stderr.strip().splitlines()[-2:]}
    summary = json.loads((out / "evaluation.json").read_text())["summary"]
    fold_epochs = summary["k"] * summary["epochs"]
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "backend": backend,
        "wall_s": round(wall, 2),
        "train_wall_s": summary["wall_seconds"],
        "s_per_fold_epoch": summary["wall_seconds"] / fold_epochs,
        "cpu_s": round(cpu, 2),
        "oof_r2": summary["oof_r2"],
        "mean_fold_r2": summary["mean_fold_r2"],
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "k": summary["k"],
        "epochs": summary["epochs"],
    }


def table(rows: list[dict]) -> str:
    head = (
        "backend  repeat  wall s  train s  s/fold-epoch  cpu s  vs numpy  oof R²  fold R²"
        "  load before/after"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['backend']:<7}  {r['repeat']:>6}  failed: {r['error']}")
            continue
        lines.append(
            f"{r['backend']:<7}  {r['repeat']:>6}  {r['wall_s']:>6.1f}  {r['train_wall_s']:>7.1f}"
            f"  {r['s_per_fold_epoch']:>12.4f}  {r['cpu_s']:>5.0f}  {r.get('ratio', 1.0):>7.2f}x"
            f"  {r['oof_r2']:>6.4f}  {r['mean_fold_r2']:>7.4f}"
            f"  {r['load_before']:>5.2f} / {r['load_after']:.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--spec",
        default="king-county",
        help="a packaged example name (king-county, king-county-seed) or a spec file",
    )
    parser.add_argument("--epochs", type=int, help="override the spec's epochs")
    parser.add_argument("--data", help="data file (default: the King County lookup)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--backends", default="numpy,jax")
    args = parser.parse_args(argv)
    from nnforge.demos import EXAMPLES, example_spec

    spec = example_spec(args.spec) if args.spec in EXAMPLES else Path(args.spec)
    info = machine()
    print(f"CPU: {info['cpu']}, {info['cpus']} cores; JAX: {info['jax']}")
    print(f"BLAS: {info['blas']}; load average: {os.getloadavg()}")
    backends = args.backends.split(",")
    rows = []
    with tempfile.TemporaryDirectory(prefix="nnforge-bench-") as tmp:
        for repeat in range(args.repeats):
            order = backends if repeat % 2 == 0 else backends[::-1]
            results = {}
            for backend in order:
                out = Path(tmp) / f"{backend}-{repeat}"
                result = run_train(spec, backend, args.epochs, args.data, out)
                result["repeat"] = repeat
                results[backend] = result
                print(table([result]).splitlines()[-1], flush=True)
            reference = results.get("numpy", {}).get("train_wall_s")
            for backend in backends:
                r = results[backend]
                if reference and "train_wall_s" in r:
                    r["ratio"] = r["train_wall_s"] / reference
                rows.append(r)
    print()
    print(f"{spec.name}: 'vs numpy' = trainer wall time / the NumPy run's of that repeat")
    print(table(rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "backends.json"
    path.write_text(json.dumps({"machine": info, "runs": rows}, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
