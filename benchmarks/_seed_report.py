"""The printed and stored header of ``seed_workload.py`` (hardware, libraries, the subnormal
penalty) and its table of results."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import _machine  # benchmarks/_machine.py, beside this script
import numpy as np

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def machine_info() -> dict[str, Any]:
    """The hardware and libraries every figure depends on (printed first, stored in the JSON):
    the shared header (``_machine.machine``) with each BLAS pool in full, plus what this
    benchmark also depends on."""
    info: dict[str, Any] = {
        **_machine.machine(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numpy": np.__version__,
        "blas": _machine.blas_info(),
        "env": {v: os.environ.get(v) for v in OPENBLAS_VARS},
        "date": time.strftime("%Y-%m-%d"),
    }
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
