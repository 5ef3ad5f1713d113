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
    with contextlib.suppress(ImportError):
        import numpy  # noqa: F401  (loads the BLAS that threadpool_info reports)
        from threadpoolctl import threadpool_info

        info["blas"] = [
            f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
            for i in threadpool_info()
        ]
    return info
