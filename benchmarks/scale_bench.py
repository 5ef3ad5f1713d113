"""Training at scale: 0.1 M, 1 M and 10 M King County-like rows, 8 folds x 1 epoch (issue 15).

The data is King County repeated until it has N rows, every price multiplied by a factor drawn
uniformly in [0.95, 1.05] (seeded), written once as Parquet under
``benchmarks/results/scale-data/``. Each size trains the tuned spec
(``example_spec("king-county")``) for 1 epoch of 8 folds through ``nnforge.training.train`` in a
fresh child process, writing a run directory as ``nnforge train`` does, derive cache off.
The parent samples the memory of the child and all its worker processes (psutil, RSS every
0.1 s, PSS every 0.5 s): the summed RSS (pages shared by forked workers count once per process)
and the summed PSS (shared pages split between the processes that map them: what the tree
really occupies).

Usage::

    python benchmarks/scale_bench.py                     # 0.1 M and 1 M rows
    python benchmarks/scale_bench.py --rows 100000,1000000,10000000
    python benchmarks/scale_bench.py --rows 1000000 --src /tmp/base/src   # another checkout

``--src`` puts another checkout's ``src`` first on the child's ``PYTHONPATH``, so a baseline
(e.g. ``git archive main``) is measured by the same script in the same session. Results are
printed and written to ``benchmarks/results/scale_bench.json``. Run it through
``make bench-scale``, which unsets ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` for the run.
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

import _machine  # benchmarks/_machine.py, beside this script
from _memory import TreeMemory

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DATA_DIR = RESULTS / "scale-data"


# -- data ----------------------------------------------------------------------------------------


def scale_data(n_rows: int, seed: int = 0) -> Path:
    """King County repeated to ``n_rows`` rows, prices jittered by +-5 %, as Parquet (cached)."""
    import numpy as np
    import polars as pl

    from nnforge.datasets import king_county

    path = DATA_DIR / f"kc_{n_rows}.parquet"
    if path.is_file():
        return path
    base = king_county()  # the CSV of ../shared or the packaged Parquet copy
    reps = -(-n_rows // base.height)
    frame = pl.concat([base] * reps).head(n_rows)
    jitter = np.random.default_rng(seed).uniform(0.95, 1.05, n_rows)
    frame = frame.with_columns((pl.col("price") * pl.Series(jitter)).round(0).alias("price"))
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.write_parquet(tmp, row_group_size=1 << 20)
    tmp.rename(path)
    return path


# -- the child: one training ---------------------------------------------------------------------


def child(data: str, out: str, folds: int, workers: int | None, marks_file: Path) -> dict[str, Any]:
    """Train the tuned spec for one epoch; time preprocessing, the epoch and the rest.

    The marks reached so far are also written to ``marks_file`` as they happen, so that a run
    stopped by ``--max-seconds`` still reports how far it got.
    """
    from nnforge.demos import example_spec
    from nnforge.model import KFolds, Model
    from nnforge.training import train
    from nnforge.training.callbacks import Callback

    marks: dict[str, float] = {}

    class Clock(Callback):
        def on_train_begin(self, info) -> None:
            marks["begin"] = time.perf_counter()
            self._save()

        def on_epoch_end(self, m) -> None:
            marks["epoch_end"] = time.perf_counter()
            self._save()

        def _save(self) -> None:
            marks_file.write_text(json.dumps({k: v - start for k, v in marks.items()}))

    spec = Model.from_json_file(example_spec("king-county"))
    model = spec.with_overrides(epochs=1, trainer=KFolds(k=folds))
    start = time.perf_counter()
    run = train(
        model, data, out_dir=out, workers=workers, callbacks=[Clock()], progress=False, cache=False
    )
    end = time.perf_counter()
    return {
        "wall_s": end - start,
        "preprocess_s": marks["begin"] - start,
        "epoch_s": marks["epoch_end"] - marks["begin"],
        "finish_s": end - marks["epoch_end"],
        "oof_r2": run.summary["oof_r2"],
        "n_rows": run.summary["n_rows"],
        "workers": run.summary.get("workers"),
    }


# -- the parent: launch and watch memory ---------------------------------------------------------


def measure(n_rows: int, args: argparse.Namespace) -> dict[str, Any]:
    """One size in a fresh child process; its timings plus the tree's peak memory."""
    data = scale_data(n_rows)
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join([args.src, env.get("PYTHONPATH", "")]).rstrip(":")
    with tempfile.TemporaryDirectory(prefix="nnforge-scale-") as tmp:
        report = Path(tmp) / "child.json"
        cmd = [sys.executable, __file__, "--child", str(data), "--out", str(Path(tmp) / "run")]
        cmd += ["--folds", str(args.folds), "--report", str(report)]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        proc = subprocess.Popen(cmd, env=env)
        with TreeMemory([proc.pid]) as mem:
            try:
                code = proc.wait(timeout=args.max_seconds)
            except subprocess.TimeoutExpired:
                code = None
                _kill_tree(proc.pid)
                proc.wait()
        memory = {
            "peak_rss_tree_mib": mem.peak_rss / 2**20,
            "peak_pss_tree_mib": mem.peak_pss / 2**20,
            "processes": mem.peak_processes,
        }
        if code is None:
            marks = Path(f"{report}.marks")
            reached = json.loads(marks.read_text()) if marks.is_file() else {}
            return {
                "rows": n_rows,
                "error": f"stopped after --max-seconds {args.max_seconds}",
                "marks_s": reached,
                **memory,
            }
        if code:
            return {"rows": n_rows, "error": f"child exited with code {code}", **memory}
        result = json.loads(report.read_text())
    epoch_rows = result["n_rows"] * (args.folds - 1)  # every fold trains on (k-1)/k of the rows
    return {
        "rows": n_rows,
        **result,
        "train_rows_per_s": epoch_rows / result["epoch_s"],
        "rows_per_s_end_to_end": result["n_rows"] / result["wall_s"],
        **memory,
    }


def _kill_tree(pid: int) -> None:
    """Kill the child this benchmark started and its workers, by process id."""
    import psutil

    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for proc in [*root.children(recursive=True), root]:
            with contextlib.suppress(psutil.Error):
                proc.kill()


def machine() -> dict[str, Any]:
    """The shared hardware header plus the load average before the runs."""
    info = _machine.machine()
    info["load_before"] = os.getloadavg()[0]
    return info


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'rows':>10} {'wall s':>8} {'prep s':>7} {'epoch s':>8} {'rest s':>7} "
        f"{'train rows/s':>13} {'RSS sum MiB':>12} {'PSS sum MiB':>12} {'R2':>6}"
    )
    print(head)
    for r in rows:
        if "error" in r:
            rss, pss = r.get("peak_rss_tree_mib", 0), r.get("peak_pss_tree_mib", 0)
            mem = f"RSS sum {rss:,.0f} MiB, PSS sum {pss:,.0f} MiB"
            print(f"{r['rows']:>10} {r['error']}; {mem}; reached {r.get('marks_s')}")
            continue
        print(
            f"{r['rows']:>10} {r['wall_s']:>8.1f} {r['preprocess_s']:>7.1f} {r['epoch_s']:>8.1f} "
            f"{r['finish_s']:>7.1f} {r['train_rows_per_s']:>13,.0f} "
            f"{r['peak_rss_tree_mib']:>12,.0f} {r['peak_pss_tree_mib']:>12,.0f} "
            f"{r['oof_r2']:>6.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--folds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None, help="default: the trainer's")
    parser.add_argument("--src", help="another checkout's src/ to measure (a baseline)")
    parser.add_argument(
        "--max-seconds", type=float, default=None, help="stop a size after this long (memory only)"
    )
    parser.add_argument("--label", default="", help="stored with the results")
    parser.add_argument("--child", metavar="DATA", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = child(args.child, args.out, args.folds, args.workers, Path(f"{args.report}.marks"))
        Path(args.report).write_text(json.dumps(result))
        return 0
    info = machine()
    print(f"CPU {info.get('cpu')}, {info['cpus']} cores, BLAS {info.get('blas')}", flush=True)
    print(f"load average before: {info['load_before']:.1f} (a shared machine skews timings)")
    rows = []
    for n in (int(float(v)) for v in args.rows.split(",")):
        rows.append(measure(n, args))
        print_table(rows[-1:])
    print()
    print_table(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "scale_bench.json"
    previous = json.loads(out.read_text()) if out.is_file() else []
    previous.append({"label": args.label, "src": args.src, "machine": info, "results": rows})
    out.write_text(json.dumps(previous, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
