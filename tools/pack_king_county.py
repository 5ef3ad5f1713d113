"""Build the packaged King County table, ``src/nnforge/_datasets/kc_house_data.parquet``.

Run once when the data changes (never); the Parquet file is committed. It is the original CSV read
with ``nnforge.data.read_table`` and stored as zstd Parquet. Before writing, the script checks
that the CSV is the published file (SHA-256), that the table written back with the file's own
formatting gives the same bytes, and that the Parquet read back equals the table.

    python tools/pack_king_county.py [path/to/kc_house_data.csv]

The default CSV is ``../shared/datasets/kc_house_data.csv`` (the dev machines' copy).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import polars as pl

from nnforge import datasets
from nnforge._io import atomic_path
from nnforge.data import read_table

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "datasets" / datasets.KING_COUNTY_FILE
TARGET = ROOT / "src" / "nnforge" / "_datasets" / "kc_house_data.parquet"


def main(csv: Path) -> int:
    raw = csv.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != datasets.KING_COUNTY_SHA256:
        print(f"{csv}: SHA-256 {digest}, expected {datasets.KING_COUNTY_SHA256}", file=sys.stderr)
        return 1
    table = read_table(csv)
    if datasets.king_county_csv(table) != raw:
        print("the table written back differs from the CSV bytes", file=sys.stderr)
        return 1
    with atomic_path(TARGET) as tmp:
        table.write_parquet(tmp, compression="zstd", compression_level=22, statistics=False)
        back = pl.read_parquet(tmp)
        if back.schema != table.schema or not back.equals(table):
            msg = "the Parquet file read back differs from the table; nothing was written"
            raise RuntimeError(msg)  # leaves the with block without renaming
    print(f"{TARGET}: {TARGET.stat().st_size:,} bytes, {table.height} rows x {table.width} columns")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CSV))
