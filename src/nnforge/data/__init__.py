"""Dataframes in, model-ready arrays out: dataset specs, derive, fitted pipelines (Polars only).

See ``docs/DESIGN.md`` ("Data contract") for the flow. ``data`` knows nothing of networks.
"""

from nnforge.data.cache import user_cache_dir
from nnforge.data.derive import derive, drop_missing_targets
from nnforge.data.features import (
    ClassesSpec,
    Equal,
    FeatureSpec,
    GreaterThan,
    InRange,
    IsMissing,
    LessThan,
    MapRule,
    ReplaceWith,
    ReplaceWithFeature,
)
from nnforge.data.io import DataFileNotFoundError, read_table
from nnforge.data.options import (
    AddExtractedMonth,
    AddExtractedTimestamp,
    AddSquared,
    Classes,
    Clipped,
    Cyclical,
    CyclicalMonth,
    DateFormat,
    FilterOutliers,
    IsId,
    Log10,
    Mapped,
    Missing,
    Normalized,
    Not,
    OneHot,
    Option,
    Out,
    Standardized,
    Unit,
    UsedInModel,
)
from nnforge.data.pipeline import Pipeline
from nnforge.data.spec import DatasetSpec

__all__ = [
    "AddExtractedMonth",
    "AddExtractedTimestamp",
    "AddSquared",
    "Classes",
    "ClassesSpec",
    "Clipped",
    "Cyclical",
    "CyclicalMonth",
    "DataFileNotFoundError",
    "DatasetSpec",
    "DateFormat",
    "Equal",
    "FeatureSpec",
    "FilterOutliers",
    "GreaterThan",
    "InRange",
    "IsId",
    "IsMissing",
    "LessThan",
    "Log10",
    "MapRule",
    "Mapped",
    "Missing",
    "Normalized",
    "Not",
    "OneHot",
    "Option",
    "Out",
    "Pipeline",
    "ReplaceWith",
    "ReplaceWithFeature",
    "Standardized",
    "Unit",
    "UsedInModel",
    "derive",
    "drop_missing_targets",
    "read_table",
    "user_cache_dir",
]
