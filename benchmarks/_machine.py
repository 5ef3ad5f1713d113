"""The hardware header of the benchmark scripts: CPU model, core count and BLAS kernel."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """Python version, CPU model (from /proc/cpuinfo), cores and the BLAS threadpoolctl sees."""
    info: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    info.setdefault("cpu", platform.processor() or platform.machine())
    with contextlib.suppress(ImportError):
        info["blas"] = [
            f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
            for i in blas_info()
        ]
    return info


def blas_info() -> list[dict[str, Any]]:
    """The BLAS (and OpenMP) pools threadpoolctl sees: library, kernel, threads, version, file."""
    import numpy  # noqa: F401  (loads the BLAS that threadpool_info reports)
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "architecture", "num_threads", "version", "filepath")
    return [{k: v for k, v in info.items() if k in keep} for info in threadpool_info()]
