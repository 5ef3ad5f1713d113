"""What :meth:`Pipeline.fit <nnforge.data.pipeline.Pipeline.fit>` learns, one kind of state each.

The columns a pipeline transforms (:class:`Col`), the rows it is fitted on (:class:`FitRows`,
read without copying them) and one ``learn_*`` function per kind of fitted state: fill values,
Tukey fences, scalers, one-hot categories, class labels. Each returns what it learned; the
pipeline stores it in its ``attr_`` attributes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from nnforge.data import steps
from nnforge.data.features import FeatureSpec
from nnforge.data.spec import ColumnInfo, DatasetSpec
from nnforge.data.targets import learn_labels
from nnforge.exceptions import DataError

__all__ = ["Col", "FitRows", "check_frame", "one_hot_vocabulary"]

logger = logging.getLogger(__name__)

# Filtered columns one statistics query may hold at once (a few columns of ten million rows).
_STATS_BYTES = 256 << 20


@dataclass(frozen=True)
class Col:
    # A column the pipeline transforms: ColumnInfo plus the missing policy of its source.
    info: ColumnInfo
    policy: str
    fill_source: FeatureSpec

    @property
    def name(self) -> str:
        return self.info.name


class FitRows:
    """The rows a pipeline is fitted on, read from the frame without copying it whole.

    ``frame[rows]`` would copy every column of one fold's training rows (7/8 of the table, per
    fold). The statistics need one number per column, so they are computed on lazily filtered
    columns, a few at a time (at most ``_STATS_BYTES`` of filtered values per query); the values
    and their order are those of ``frame[rows]``, so the results are the same.
    """

    def __init__(self, frame: pl.DataFrame, rows: np.ndarray | None) -> None:
        self.frame = frame
        self.mask: pl.Series | None = None
        self.height = frame.height
        if rows is not None:
            rows = np.asarray(rows)
            if rows.ndim != 1 or (len(rows) > 1 and not (np.diff(rows) > 0).all()):
                msg = "`rows` must be sorted, distinct row positions of `frame`"
                raise ValueError(msg)
            mask = np.zeros(frame.height, dtype=bool)
            mask[rows] = True
            self.mask, self.height = pl.Series("fit_rows", mask), len(rows)

    @property
    def rows(self) -> pl.LazyFrame:
        """The fit rows, lazily (a filter on the frame)."""
        lazy = self.frame.lazy()
        return lazy if self.mask is None else lazy.filter(pl.lit(self.mask))

    def select(self, lazy: pl.LazyFrame, exprs: list[pl.Expr]) -> list[Any]:
        """One aggregate per expression over ``lazy`` (fit rows), a few columns at a time.

        The columns are collected and made one chunk before aggregating, as ``frame[rows]``
        is: sums over several chunks round differently.
        """
        per_query = max(1, _STATS_BYTES // max(1, 8 * self.height))
        out: list[Any] = []
        for i in range(0, len(exprs), per_query):
            group = exprs[i : i + per_query]
            names = list(dict.fromkeys(n for e in group for n in e.meta.root_names()))
            out += lazy.select(names).collect().rechunk().select(group).row(0)
        return out

    def count(self, lazy: pl.LazyFrame) -> int:
        """Rows of ``lazy``."""
        return int(lazy.select(pl.len()).collect().item())

    @staticmethod
    def series(lazy: pl.LazyFrame, name: str) -> pl.Series:
        """One column of ``lazy``."""
        return lazy.select(name).collect().to_series().rechunk()


def learn_fills(fit: FitRows, cols: list[Col]) -> dict[str, float | str]:
    """The value put in missing cells, per column whose policy fills (all fit rows)."""
    fills: dict[str, float | str] = {}
    stat_cols = [
        c for c in cols if c.policy in ("mean", "median", "drop") and c.info.kind != "squared"
    ]
    stats: dict[str, Any] = {}
    if stat_cols:
        numeric = [c for c in stat_cols if c.info.spec.one_hot is None]
        exprs = [
            (pl.col(c.name).mean() if c.policy == "mean" else pl.col(c.name).median()).alias(c.name)
            for c in numeric
        ]
        if exprs:
            values = fit.select(fit.rows, exprs)
            stats = dict(zip([c.name for c in numeric], values, strict=True))
        for c in stat_cols:
            if c.info.spec.one_hot is not None:  # drop policy on a category: most frequent
                mode = fit.series(fit.rows, c.name).drop_nulls().mode().sort()
                stats[c.name] = mode[0] if len(mode) else None
    for c in cols:
        if c.policy == "error":
            continue
        value: Any
        if c.info.kind == "squared":  # the square of the parent's fill, as derive would
            value = float(fills[c.info.parent]) ** 2  # type: ignore[index]
            if c.info.spec.log10:
                value = float(np.log10(value))
        elif c.policy == "constant":  # given in original units: apply the stateless steps
            raw = c.fill_source.fill_value
            if c.info.spec.one_hot is not None:
                value = str(raw)
            else:
                value = float(raw)  # type: ignore[arg-type]
                if c.info.spec.log10:
                    value = float(np.log10(value))
        else:
            value = stats.get(c.name)
            if value is None:
                msg = (
                    f"cannot learn a fill value for column `{c.name}`: every value is "
                    f"missing in the {fit.height} fit rows"
                )
                raise DataError(msg)
        fills[c.name] = value if isinstance(value, str) else float(value)
    return fills


def learn_fences(
    fit: FitRows, filled: pl.LazyFrame, cols: list[Col]
) -> tuple[dict[str, steps.Fences], list[str]]:
    """Tukey fences of the ``filter_outliers`` columns, and those left unfiltered (IQR 0)."""
    fences: dict[str, steps.Fences] = {}
    unfiltered: list[str] = []
    filtered = [c for c in cols if c.info.spec.filter_outliers]
    if not filtered:
        return fences, unfiltered
    qs = fit.select(
        filled,
        [
            pl.col(c.name).quantile(q, "linear").alias(f"{c.name}\x00{q}")
            for c in filtered
            for q in (0.25, 0.75)
        ],
    )
    for i, c in enumerate(filtered):
        q1, q3 = qs[2 * i], qs[2 * i + 1]
        if q1 is None or q3 is None:
            continue  # no rows: reported by the caller
        if q3 == q1:
            unfiltered.append(c.name)
        else:
            fences[c.name] = steps.Fences(q1=float(q1), q3=float(q3))
    return fences, unfiltered


def learn_scalers(
    fit: FitRows, kept: pl.LazyFrame, n_kept: int, cols: list[Col]
) -> dict[str, steps.MinMax | steps.ZScore]:
    """Min-max or z-score scalers on the kept rows; a constant column is noted in the log."""
    scalers: dict[str, steps.MinMax | steps.ZScore] = {}
    scaled = [c for c in cols if c.info.spec.scale is not None]
    if not scaled:
        return scalers
    exprs = []
    for c in scaled:
        col = pl.col(c.name)
        if c.info.spec.scale == "minmax":
            exprs += [col.min().alias(f"{c.name}\x00a"), col.max().alias(f"{c.name}\x00b")]
        else:
            exprs += [
                col.mean().alias(f"{c.name}\x00a"),
                col.std(ddof=0).alias(f"{c.name}\x00b"),
            ]
    stats = fit.select(kept, exprs)
    for i, c in enumerate(scaled):
        a, b = float(stats[2 * i]), float(stats[2 * i + 1])
        if c.info.spec.scale == "minmax":
            scalers[c.name] = steps.MinMax(lo=a, hi=b)
            constant = not b > a
        else:
            scalers[c.name] = steps.ZScore(mean=a, std=b)
            constant = not b > 0
        if constant:
            logger.info(
                "column `%s` is constant (%r) on the %d training rows of this fit: "
                "it is scaled to 0 there and carries no information for this model",
                c.name,
                a,
                n_kept,
            )
    return scalers


def learn_categories(
    fit: FitRows,
    kept: pl.LazyFrame,
    cols: list[Col],
    vocabulary: dict[str, dict[str, int]] | None,
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """One-hot categories per column, and the rare ones that share ``<name>_other``."""
    categories: dict[str, list[str]] = {}
    rare_categories: dict[str, list[str]] = {}
    for c in cols:
        one_hot = c.info.spec.one_hot
        if one_hot is None:
            continue
        if one_hot.categories is not None:
            categories[c.name] = list(one_hot.categories)
            continue
        counts = vocabulary.get(c.name) if vocabulary else None
        if counts is None:
            counts = _category_counts(fit.series(kept, c.name))
        common, rare = _split_by_frequency(counts, one_hot.min_frequency)
        categories[c.name] = common
        if rare:
            rare_categories[c.name] = rare
    return categories, rare_categories


def learn_classes(fit: FitRows, kept: pl.LazyFrame, cols: list[Col]) -> dict[str, list[str]]:
    """The class target's labels: declared, else those of the kept rows (at least 2)."""
    out: dict[str, list[str]] = {}
    for c in cols:
        classes = c.info.spec.classes
        if classes is None:
            continue
        labels = classes.label_text() or learn_labels(fit.series(kept, c.name))
        if len(labels) < 2:
            msg = (
                f"class target `{c.name}` has {len(labels)} class(es) {labels} in the "
                f"{fit.count(kept)} fit rows; it needs at least 2"
            )
            raise DataError(msg)
        out[c.name] = labels
    return out


def one_hot_vocabulary(spec: DatasetSpec, frame: pl.DataFrame) -> dict[str, dict[str, int]]:
    """The category names of every one-hot column of a derived frame, with their counts.

    The trainer takes them from the whole file before splitting folds, so every fold encodes
    the same columns; names carry no target information. Pass the result to
    :meth:`Pipeline.fit`, which applies ``min_frequency`` to it.
    """
    return {
        c.name: _category_counts(frame[c.name])
        for c in spec.columns()
        if c.spec.one_hot is not None and c.name in frame.columns
    }


def _category_counts(column: pl.Series) -> dict[str, int]:
    counts = column.drop_nulls().cast(pl.String).value_counts()
    return dict(zip(counts[:, 0].to_list(), counts[:, 1].to_list(), strict=True))


def _split_by_frequency(counts: dict[str, int], min_frequency: int) -> tuple[list, list]:
    """Sorted categories seen at least ``min_frequency`` times, and the rarer ones."""
    common = sorted(k for k, n in counts.items() if n >= min_frequency)
    rare = sorted(k for k, n in counts.items() if n < min_frequency)
    return common, rare


def check_frame(frame: Any) -> None:
    """Raise a TypeError unless ``frame`` is a polars DataFrame."""
    if not isinstance(frame, pl.DataFrame):
        msg = f"`frame` must be a polars DataFrame. Received: {type(frame).__name__}"
        raise TypeError(msg)
