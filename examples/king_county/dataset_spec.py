"""The seed's King County dataset spec (report appendix 5.a), written with the builder API.

Run it to (re)write ``dataset.json`` next to this file::

    python examples/king_county/dataset_spec.py [path/to/kc_house_data.csv]

The data file is found as ``nnforge.datasets.king_county_path`` explains (``$NNFORGE_DATA_DIR``,
``./data/``, the user cache); it is only read to list the columns and their types.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nnforge.data import (
    AddExtractedMonth,
    AddExtractedTimestamp,
    AddSquared,
    DatasetSpec,
    DateFormat,
    Equal,
    FilterOutliers,
    Log10,
    Mapped,
    Normalized,
    Not,
    Out,
    ReplaceWithFeature,
    Unit,
    UsedInModel,
)
from nnforge.datasets import king_county_path

HERE = Path(__file__).resolve().parent


def king_county_spec(path: str | Path | None = None) -> DatasetSpec:
    """Build the appendix 5.a spec from the columns of the King County file."""
    spec = DatasetSpec.from_file(king_county_path(path))
    return (
        spec.remove_features(["id", "zipcode", "sqft_living15", "sqft_lot15"])
        # Descriptive properties of the date column: parsed, kept out of the model itself.
        .add_opt_to("date", DateFormat("%Y%m%dT%H%M%S"))
        .add_opt_to("date", Not(UsedInModel))
        # Feature extraction: the month and the Unix timestamp become model inputs.
        .add_opt_to("date", AddExtractedMonth)
        .add_opt_to("date", AddExtractedTimestamp)
        # Never renovated (0) means "as new as when built".
        .add_opt_to("yr_renovated", Mapped(Equal(0), ReplaceWithFeature("yr_built")))
        .add_opt_to("price", Out)
        .add_opt_to("price", Unit("USD"))
        .add_opt(Log10.only(["sqft_living", "sqft_above", "price"]))
        # incl_added_features(): the month and timestamp (added above) get squared too, and
        # every square gets filtered and normalised.
        .add_opt(AddSquared.except_(["price", "date"]).incl_added_features())
        .add_opt(FilterOutliers.except_(["date"]).incl_added_features())
        .add_opt(Normalized.except_(["date"]).incl_added_features())
    )


def main(argv: list[str]) -> int:
    spec = king_county_spec(argv[0] if argv else None)
    out = spec.to_json_file(HERE / "dataset.json")
    print(spec.summary())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
