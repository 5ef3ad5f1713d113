"""Pack the Palmer penguins table into the package: ``src/nnforge/_datasets/penguins.parquet``.

The source is ``penguins.csv`` as shipped by the ``palmerpenguins`` distribution on PyPI (0.1.6,
data CC0 by Gorman, Williams and Fraser; see ``penguins.SOURCE.txt``). ``NA`` cells become nulls;
nothing else changes. Run once, from the repository root::

    .venv/bin/pip install palmerpenguins==0.1.6
    .venv/bin/python tools/pack_penguins.py
"""

from __future__ import annotations

import hashlib
import sys
from importlib import resources
from pathlib import Path

import polars as pl

SOURCE_SHA256 = "f204db2c753b0937caac3cb35258562c14f073e4bbc76be24b4c51ce22767a93"
OUT = Path(__file__).resolve().parents[1] / "src" / "nnforge" / "_datasets" / "penguins.parquet"


def main() -> int:
    source = resources.files("palmerpenguins") / "data" / "penguins.csv"
    raw = source.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SOURCE_SHA256:
        print(f"unexpected penguins.csv (sha256 {digest}); expected {SOURCE_SHA256}")
        return 1
    frame = pl.read_csv(raw, null_values="NA")
    frame.write_parquet(OUT, compression="zstd", compression_level=22, statistics=False)
    back = pl.read_parquet(OUT)
    assert back.equals(frame)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes, {frame.height} rows x {frame.width})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
