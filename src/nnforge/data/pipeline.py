"""From a spec and a table to model-ready arrays, and back to original units.

Two stages, because they have different lifetimes:

* :func:`derive` applies the *stateless*, row-wise steps of a :class:`DatasetSpec` (type checks,
  date parsing with month/timestamp extraction, mapped values, log10, squares) and attaches the
  id column. Its output depends only on the spec and the file, so it is cached on disk.
* :class:`Pipeline` holds the *fitted* steps: missing-value fills, Tukey fences, min-max/z-score
  scalers and one-hot categories are learned from the rows it is fitted on (the training rows of
  one fold) and applied unchanged to any other rows. Row filters (outliers, ``drop`` missing
  policy) only ever remove training rows: validation and new rows are never dropped, so scores
  are computed on every row.

Every numeric step has an exact inverse, so outputs and frames come back in original units.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nnforge import __version__
from nnforge._io import atomic_write_text
from nnforge._validation import check_dtype, check_is_fitted
from nnforge.data import steps
from nnforge.data.affine import ColumnSteps
from nnforge.data.cache import DerivedCache, file_sha256, resolve_cache_dir
from nnforge.data.io import read_table, row_label
from nnforge.data.spec import (
    ColumnInfo,
    DatasetSpec,
    Equal,
    FeatureSpec,
    GreaterThan,
    InRange,
    IsMissing,
    LessThan,
    MapRule,
    ReplaceWith,
)
from nnforge.data.targets import (
    check_labels,
    class_probabilities,
    encoded_class_names,
    label_text,
    learn_labels,
)
from nnforge.exceptions import DataError, SpecError

__all__ = ["Pipeline", "derive", "drop_missing_targets", "one_hot_vocabulary"]

logger = logging.getLogger(__name__)

_PIPELINE_FORMAT = "nnforge-pipeline"
_PIPELINE_VERSION = 1
_SHOW = 10  # how many offending rows/ids an error lists
_TMP = "__nnforge_parsed_"


# ============================================================================================
# derive: stateless steps
# ============================================================================================


def derive(
    spec: DatasetSpec,
    data: pl.DataFrame | str | Path,
    *,
    cache: bool | str | Path | None = True,
) -> pl.DataFrame:
    """Apply the stateless steps of ``spec`` to a table and attach the id column.

    Parameters
    ----------
    spec : DatasetSpec
        Validated here (builder edits are checked at this point).
    data : polars.DataFrame or path
        A frame, or a CSV/Parquet/Arrow IPC file (read with :func:`~nnforge.data.read_table`).
    cache : bool, path or None, default=True
        Only used when ``data`` is a path. ``True`` caches under the user cache directory
        (``~/.cache/nnforge/derived``), a path caches there, ``False``/``None`` disables it. The
        key is the SHA-256 of the spec, the file content and the nnforge version; an entry is
        written (atomically) only after a successful derive.

    Returns
    -------
    polars.DataFrame
        The id column first (the ``is_id`` feature, or 1-based row numbers named
        ``spec.id_column``), then every spec feature in order, each followed by its added
        features (``<name>_month``, ``<name>_timestamp``, ``<name>_squared``). Numeric columns are
        ``Float64``; date columns keep their text; one-hot columns are text. Output columns
        absent from the data (new data to predict) are simply left out.

    Raises
    ------
    DataError
        Missing/unreadable/empty file; a spec feature missing from the data (the message lists
        the available columns); non-numeric text in a numeric feature; missing values under the
        ``error`` policy; an unparsable date; log10 of a value <= 0; duplicate or missing ids.
        Messages name the file, column, 1-based data row and value.
    SpecError
        If the spec is invalid.
    """
    if not isinstance(spec, DatasetSpec):
        msg = f"`spec` must be a DatasetSpec. Received: spec={type(spec).__name__}"
        raise TypeError(msg)
    spec = spec.validated()
    if isinstance(data, pl.DataFrame):
        return _derive_frame(spec, data, "data frame")
    if not isinstance(data, str | Path):
        msg = f"`data` must be a polars DataFrame or a path. Received: {type(data).__name__}"
        raise TypeError(msg)
    path = Path(data)
    folder = resolve_cache_dir(cache)
    store, key = None, ""
    if folder is not None and path.is_file():
        store = DerivedCache(folder)
        spec_json = json.dumps(spec.to_dict(check=False), sort_keys=True)
        key = store.key(spec_json, file_sha256(path), __version__)
        hit = store.load(key)
        if hit is not None:
            return hit
    # Only the spec's columns are parsed (a wide file's other columns never reach memory).
    names = [c.name for c in spec.columns() if c.kind == "base"]
    frame = _derive_frame(spec, read_table(path, **spec.read_options(), columns=names), f"`{path}`")
    if store is not None:
        try:
            store.store(key, frame)
        except OSError as exc:  # a read-only cache must not break preprocessing
            warnings.warn(f"could not write derive cache in {folder}: {exc}", stacklevel=2)
    return frame


def _derive_frame(spec: DatasetSpec, df: pl.DataFrame, where: str) -> pl.DataFrame:
    columns = spec.columns()
    bases = [c for c in columns if c.kind == "base"]
    absent = [c.name for c in bases if c.name not in df.columns and c.role != "output"]
    if absent:
        msg = (
            f"{where}: spec feature(s) {absent} not found in the data; "
            f"available columns: {df.columns}"
        )
        raise DataError(msg)
    present = {c.name for c in bases if c.name in df.columns}
    columns = [c for c in columns if c.source in present]
    bases = [c for c in bases if c.name in present]
    df = df.select([c.name for c in bases])

    # 0. declared placeholders (na_values) become missing, whatever the file format.
    df = _apply_na_values(df, spec.na_values)
    # 1. types: numbers to Float64 (reporting text that is not a number), categories and class
    # labels to text.
    df = _cast_columns(df, bases, where)
    for c in bases:
        if c.spec.classes is not None:
            df = df.with_columns(label_text(df[c.name]))
            labels = c.spec.classes.label_text()
            if labels is not None:
                check_labels(df, c.name, labels, where)
    # 2. mapped values, evaluated on the values as read (all rules at once, first match wins).
    mapped = [_mapped_expr(c, where, df) for c in bases if c.spec.mapped]
    if mapped:
        df = df.with_columns(mapped)
    # 3. missing values under the default `error` policy fail here, before any work is stored.
    _check_missing_rows(
        df,
        [c for c in bases if c.role != "id" and c.spec.missing == "error" and not c.passthrough],
        where,
    )
    # 4. dates, then log10 and added features level by level (a child needs its parent's value).
    dates = [c for c in bases if c.role == "date"]
    if dates:
        df = df.with_columns([_parse_date(df, c, where) for c in dates])
    numeric = {n for n, t in df.schema.items() if t == pl.Float64}
    df = _apply_log10(df, [c for c in bases if c.spec.log10 and c.name in numeric], where)
    level = [c for c in columns if c.parent is not None and c.parent in {b.name for b in bases}]
    while level:
        df = df.with_columns([_added_expr(c) for c in level])
        df = _apply_log10(df, [c for c in level if c.spec.log10], where)
        names = {c.name for c in level}
        level = [c for c in columns if c.parent in names]
    # 5. values no model can use: inf in the file, or overflow in log10/squares.
    _check_finite(df, [c for c in columns if c.role in ("input", "output")], where)
    _check_target_magnitude(df, [c for c in bases if c.role == "output"], where)
    # 6. ids.
    id_name = spec.id_name
    if any(c.role == "id" for c in bases):
        _check_ids(df, id_name, where)
        front: list[pl.Expr] = [pl.col(id_name)]
    else:
        front = [pl.int_range(1, df.height + 1, dtype=pl.Int64).alias(id_name)]
    rest = [pl.col(c.name) for c in columns if c.role != "id"]
    return df.select(front + rest)


def drop_missing_targets(spec: DatasetSpec, frame: pl.DataFrame) -> tuple[pl.DataFrame, list]:
    """Remove the rows of a derived frame whose target is missing (outputs with policy
    ``drop``); return the kept rows and the ids of those removed.

    A row without a target can neither train nor be scored, so it is left out before the
    folds are split (never imputed).
    """
    outputs = [
        c.name
        for c in spec.columns()
        if c.role == "output" and c.spec.missing == "drop" and c.name in frame.columns
    ]
    if not outputs:
        return frame, []
    missing = pl.any_horizontal([pl.col(n).is_null() for n in outputs])
    dropped = frame.filter(missing)[spec.id_name].to_list()
    return (frame.filter(~missing) if dropped else frame), dropped


def _cast_columns(df: pl.DataFrame, bases: list[ColumnInfo], where: str) -> pl.DataFrame:
    exprs = []
    text_numeric = []
    for c in bases:
        dtype = df.schema[c.name]
        col = pl.col(c.name)
        if c.role == "id" or (c.passthrough and not (dtype.is_numeric() or dtype == pl.Boolean)):
            continue  # ids and unused text are kept as read: never parsed
        if c.spec.classes is not None:
            continue  # labels: made text below
        if c.role == "date":
            if not dtype.is_temporal():
                exprs.append(col.cast(pl.String))
        elif c.spec.one_hot is not None:
            exprs.append(col.cast(pl.String))
        elif dtype.is_numeric() or dtype == pl.Boolean:
            expr = col.cast(pl.Float64)
            exprs.append(expr.fill_nan(None) if dtype.is_float() else expr)
        elif dtype == pl.String:
            text_numeric.append(c.name)
            exprs.append(_text_to_float(col).alias(c.name))
        else:
            msg = (
                f"{where}: column `{c.name}` has type {dtype}, which is not numeric; "
                f"give it a `date_format`, one-hot encode it, or remove it"
            )
            raise DataError(msg)
    if not exprs:
        return df
    for name in text_numeric:
        _check_numeric_text(df, name, where)
    return df.with_columns(exprs)


def _apply_na_values(df: pl.DataFrame, na_values: list[str]) -> pl.DataFrame:
    """Text cells equal to a declared placeholder (after trimming spaces) become null."""
    text = [n for n, t in df.schema.items() if t == pl.String]
    if not na_values or not text:
        return df
    return df.with_columns(
        pl.when(pl.col(n).str.strip_chars().is_in(na_values))
        .then(None)
        .otherwise(pl.col(n))
        .alias(n)
        for n in text
    )


def _text_to_float(col: pl.Expr) -> pl.Expr:
    stripped = col.str.strip_chars()
    return (
        pl.when(stripped == "")
        .then(None)
        .otherwise(stripped.cast(pl.Float64, strict=False))
        .fill_nan(None)
        .cast(pl.Float64)
    )


def _check_numeric_text(df: pl.DataFrame, name: str, where: str) -> None:
    text = pl.col(name).str.strip_chars()
    bad = text.is_not_null() & (text != "") & text.cast(pl.Float64, strict=False).is_null()
    flags = df.select(bad.alias("bad")).to_series()
    count = int(flags.sum())
    if count:
        rows = flags.arg_true()
        first = int(rows[0])
        value = df[name][first]
        examples = sorted({str(v).strip() for v in df[name].gather(rows[:_SHOW]).to_list()})
        msg = (
            f"{where}: column `{name}` must be numeric but has non-numeric text {value!r} at "
            f"{row_label(first)}; {count} such value(s) ({', '.join(map(repr, examples))})"
        )
        if not any(ch.isdigit() for v in examples for ch in v):  # placeholders such as ? or n/a
            hint = (
                f'declare them missing with "na_values": {json.dumps(examples)} in the dataset '
                f'spec and set a policy on `{name}` (e.g. "missing": "median")'
            )
        else:
            hint = f"fix the file, one-hot encode `{name}`, or mark it unused"
        raise DataError(msg, hint=hint)


def _check_missing_rows(df: pl.DataFrame, cols: list[ColumnInfo], where: str) -> None:
    if not cols:
        return
    counts = df.select([pl.col(c.name).null_count() for c in cols]).row(0)
    for c, count in zip(cols, counts, strict=True):
        if count:
            rows = df[c.name].is_null().arg_true()[:_SHOW].to_list()
            shown = ", ".join(str(r + 1) for r in rows)
            msg = (
                f"{where}: column `{c.name}` has {count} missing value(s) at data row(s) "
                f"{shown}{' ...' if count > _SHOW else ''} (1-based, header excluded) and its "
                f"missing-value policy is 'error'"
            )
            if c.role == "output":
                hint = (
                    f'set "missing": "drop" on `{c.name}` to train on the rows that have a '
                    f"target (Missing('drop')), or fix the file"
                )
            else:
                hint = (
                    f'set a policy on `{c.name}`, e.g. "missing": "median" '
                    f"(Missing('median')), or fix the file"
                )
            raise DataError(msg, hint=hint)


def _mapped_expr(c: ColumnInfo, where: str, df: pl.DataFrame) -> pl.Expr:
    col = pl.col(c.name)
    numeric = df.schema[c.name] == pl.Float64
    chain: Any = None
    for i, rule in enumerate(c.spec.mapped):
        cond = _selector_expr(rule, col)
        value = _op_expr(rule, numeric, f"{c.path}.mapped[{i}]", where)
        chain = pl.when(cond).then(value) if chain is None else chain.when(cond).then(value)
    return chain.otherwise(col).alias(c.name)


def _selector_expr(rule: MapRule, col: pl.Expr) -> pl.Expr:
    sel = rule.selector
    if isinstance(sel, Equal):
        return col == sel.value
    if isinstance(sel, LessThan):
        return col < sel.value
    if isinstance(sel, GreaterThan):
        return col > sel.value
    if isinstance(sel, InRange):
        return col.is_between(sel.low, sel.high, closed="both")
    if isinstance(sel, IsMissing):
        return col.is_null()
    raise AssertionError(sel)  # pragma: no cover - exhaustive


def _op_expr(rule: MapRule, numeric: bool, path: str, where: str) -> pl.Expr:
    op = rule.op
    if isinstance(op, ReplaceWith):
        if numeric:
            if isinstance(op.value, str):
                msg = (
                    f"{where}: {path}.op.value must be a number for a numeric column. "
                    f"Received: {op.value!r}"
                )
                raise SpecError(msg)
            return pl.lit(float(op.value), dtype=pl.Float64)
        return pl.lit(str(op.value))
    return pl.col(op.feature).cast(pl.Float64 if numeric else pl.String)


def _parse_date(df: pl.DataFrame, c: ColumnInfo, where: str) -> pl.Expr:
    fmt = c.spec.date_format
    if df.schema[c.name].is_temporal():
        return pl.col(c.name).cast(pl.Datetime("us")).alias(_TMP + c.name)
    parsed = pl.col(c.name).str.strptime(pl.Datetime("us"), format=fmt, strict=False)
    bad = df.select((pl.col(c.name).is_not_null() & parsed.is_null()).alias("b")).to_series()
    count = int(bad.sum())
    if count:
        first = int(bad.arg_true()[0])
        msg = (
            f"{where}: column `{c.name}` has a date that does not match format {fmt!r}: "
            f"{df[c.name][first]!r} at {row_label(first)}; {count} such value(s)"
        )
        raise DataError(msg)
    return parsed.alias(_TMP + c.name)


def _apply_log10(df: pl.DataFrame, cols: list[ColumnInfo], where: str) -> pl.DataFrame:
    if not cols:
        return df
    bad = df.select([(pl.col(c.name) <= 0).any().alias(c.name) for c in cols]).row(0)
    for c, flag in zip(cols, bad, strict=True):
        if flag:
            mask = df[c.name] <= 0
            first = int(mask.arg_true()[0])
            count = int(mask.sum())
            msg = (
                f"{where}: log10 of column `{c.name}` needs values > 0, but it is "
                f"{df[c.name][first]!r} at {row_label(first)}; {count} value(s) <= 0. Remove "
                f"Log10 from this feature or map those values first (Mapped)"
            )
            raise DataError(msg)
    return df.with_columns([steps.log10(pl.col(c.name)) for c in cols])


def _added_expr(c: ColumnInfo) -> pl.Expr:
    assert c.parent is not None
    if c.kind == "extract_month":
        return steps.month(pl.col(_TMP + c.parent)).alias(c.name)
    if c.kind == "extract_timestamp":
        return steps.epoch_seconds(pl.col(_TMP + c.parent)).alias(c.name)
    return steps.square(pl.col(c.parent)).alias(c.name)


def _check_finite(df: pl.DataFrame, cols: list[ColumnInfo], where: str) -> None:
    """Reject ±inf (written in the file, or overflow of a square) naming column and row."""
    cols = [c for c in cols if c.name in df.columns and df.schema[c.name] == pl.Float64]
    if not cols:
        return
    flags = df.select([pl.col(c.name).is_infinite().any() for c in cols]).row(0)
    for c, flag in zip(cols, flags, strict=True):
        if not flag:
            continue
        bad = df[c.name].is_infinite()
        first, count = int(bad.arg_true()[0]), int(bad.sum())
        if c.parent is None:
            what = f"{df[c.name][first]!r}"
            hint = "fix the value, or map it to a number or to missing (Mapped)"
        else:
            what = f"{df[c.name][first]!r} (from `{c.parent}` = {df[c.parent][first]!r})"
            hint = f"the value of `{c.parent}` is too large for its {c.kind.replace('_', ' ')}"
        msg = (
            f"{where}: column `{c.name}` is {what} at {row_label(first)}; {count} infinite "
            f"value(s): {hint}"
        )
        raise DataError(msg)


# Beyond this, the squared deviations behind R² and the loss overflow float64.
_MAX_TARGET = 1e150


def _check_target_magnitude(df: pl.DataFrame, outputs: list[ColumnInfo], where: str) -> None:
    for c in outputs:
        if c.name not in df.columns or df.schema[c.name] != pl.Float64:
            continue
        bad = df[c.name].abs() > _MAX_TARGET
        if bad.any():
            first = int(bad.arg_true()[0])
            msg = (
                f"{where}: target `{c.name}` is {df[c.name][first]!r} at {row_label(first)}, "
                f"too large to score (R² and the loss square it); fix the value or drop the row"
            )
            raise DataError(msg)


def _check_ids(df: pl.DataFrame, name: str, where: str) -> None:
    col = df[name]
    if col.null_count():
        first = int(col.is_null().arg_true()[0])
        msg = f"{where}: id column `{name}` has a missing id at {row_label(first)}"
        raise DataError(msg)
    unique = col.n_unique()
    if unique != df.height:
        dup = col.filter(col.is_duplicated())[0]
        msg = (
            f"{where}: id column `{name}` is not unique ({unique} distinct values for "
            f"{df.height} rows, e.g. {dup!r} repeats), so predictions could not be joined back. "
            f"Remove IsId from it (derive then attaches row numbers as `id`)"
        )
        raise DataError(msg)


# ============================================================================================
# Pipeline: fitted steps
# ============================================================================================


@dataclass(frozen=True)
class _Col:
    # A column the pipeline transforms: ColumnInfo plus the missing policy of its source.
    info: ColumnInfo
    policy: str
    fill_source: FeatureSpec

    @property
    def name(self) -> str:
        return self.info.name


class Pipeline:
    """Fitted, revertible preprocessing of a derived frame.

    Parameters
    ----------
    spec : DatasetSpec
        The spec used by :func:`derive`; stored as a validated copy.

    Attributes
    ----------
    fill_values_ : dict of str to float or str
        Value put in missing cells, per column (``drop`` policy: the training median, used
        on non-training rows).
    fences_ : dict of str to steps.Fences
        Tukey fences per ``filter_outliers`` column.
    unfiltered_ : list of str
        ``filter_outliers`` columns whose IQR is 0 on the fit rows and so are not filtered: their
        fences would call every value but the quartile an outlier (e.g. every waterfront house).
    scalers_ : dict of str to steps.MinMax or steps.ZScore
    categories_ : dict of str to list of str
        One-hot categories, one column each: the declared ``categories``, else the vocabulary
        passed to :meth:`fit` (the trainer's: the whole file), else those of the fit rows.
    rare_categories_ : dict of str to list of str
        Categories seen fewer than ``min_frequency`` times; they share the ``<name>_other``
        column.
    classes_ : dict of str to list of str
        Labels of the class target (as text), from the spec (filled from the whole file by the
        trainer) or else learned at fit; ``output_features_`` are their encoded columns.
    n_fit_rows_ : int
        Rows passed to :meth:`fit`.
    n_dropped_ : int
        Rows of the :meth:`fit` frame removed by the row filters (outliers, ``drop`` policy).
    input_features_ : list of str
        Columns of ``x`` in :meth:`to_arrays`, in order.
    output_features_ : list of str
        Columns of ``y``.
    feature_groups_ : dict of str to str
        Input feature -> source column (``sqft_living_squared`` -> ``sqft_living``,
        ``date_month`` -> ``date``, ``zipcode_98178`` -> ``zipcode``), for grouped importance.

    Examples
    --------
    >>> frame = derive(spec, "kc_house_data.csv")  # doctest: +SKIP
    >>> pipe = Pipeline(spec).fit(frame[train_rows])  # doctest: +SKIP
    >>> valid = pipe.transform(frame[valid_rows])  # doctest: +SKIP
    >>> ids, x, y = pipe.to_arrays(valid, dtype="float32")  # doctest: +SKIP
    >>> price = pipe.inverse_transform_outputs(y)  # doctest: +SKIP
    """

    def __init__(self, spec: DatasetSpec) -> None:
        if not isinstance(spec, DatasetSpec):
            msg = f"`spec` must be a DatasetSpec. Received: spec={type(spec).__name__}"
            raise TypeError(msg)
        self.spec = spec.validated()
        self._reset()

    def _reset(self) -> None:
        self.fill_values_: dict[str, float | str] | None = None
        self.fences_: dict[str, steps.Fences] = {}
        self.unfiltered_: list[str] = []
        self.scalers_: dict[str, steps.MinMax | steps.ZScore] = {}
        self.categories_: dict[str, list[str]] = {}
        self.rare_categories_: dict[str, list[str]] = {}
        self.classes_: dict[str, list[str]] = {}
        self.n_fit_rows_ = 0
        self.n_dropped_ = 0
        self.input_features_: list[str] = []
        self.output_features_: list[str] = []
        self.feature_groups_: dict[str, str] = {}

    # ---- the columns -----------------------------------------------------------------------

    def _columns(self) -> list[_Col]:
        """Columns transformed by the pipeline (inputs, outputs, unused), in spec order."""
        sources = self.spec.features
        out = []
        for info in self.spec.columns():
            if info.role in ("id", "date") or info.passthrough:
                continue
            source = sources[info.source]
            out.append(_Col(info, source.missing, source))
        return out

    @property
    def id_column(self) -> str:
        """Name of the id column in derived and transformed frames."""
        return self.spec.id_name

    # ---- fit -------------------------------------------------------------------------------

    def fit(
        self,
        frame: pl.DataFrame,
        *,
        vocabulary: dict[str, dict[str, int]] | None = None,
        rows: np.ndarray | None = None,
    ) -> Pipeline:
        """Learn fills, fences, scalers and categories from the rows of ``frame``.

        Order: missing values (fill values learned on all fit rows; ``drop`` rows removed),
        Tukey fences (learned on those rows, outliers removed), then scalers and categories
        learned on the remaining rows, as the transform will see them. A column constant on
        those rows is scaled to 0 (with a note in the ``nnforge`` log), not rejected.

        Parameters
        ----------
        frame : polars.DataFrame
            Derived rows to fit on (one fold's training rows).
        vocabulary : dict of str to dict of str to int, optional
            One-hot category counts to take the categories from instead of ``frame``
            (:func:`one_hot_vocabulary` of the whole file), so that every fold encodes the same
            columns. Declared ``categories`` take precedence.
        rows : ndarray of int, optional
            Fit on these rows of ``frame`` (sorted positions), exactly as on ``frame[rows]``
            but without copying them: the statistics are read a few columns at a time.

        Raises
        ------
        DataError
            Missing columns, missing values under the ``error`` policy, or no rows left after
            filtering.
        """
        _check_frame(frame)
        self._reset()
        cols = self._columns()
        self._require(frame, cols, outputs=True, what="fit")
        fit = _FitRows(frame, rows)
        self.n_fit_rows_ = fit.height
        self.fill_values_ = self._learn_fills(fit, cols)
        filled, n_missing = self._fit_missing(fit, cols)

        filtered = [c for c in cols if c.info.spec.filter_outliers]
        if filtered:
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
                    continue  # no rows: reported below
                if q3 == q1:
                    self.unfiltered_.append(c.name)
                else:
                    self.fences_[c.name] = steps.Fences(q1=float(q1), q3=float(q3))
        kept = filled
        if self.fences_:
            kept = filled.filter(
                pl.all_horizontal([f.inside(pl.col(n)) for n, f in self.fences_.items()])
            )
        n_kept = fit.count(kept)
        n_out = fit.height - n_missing - n_kept
        self.n_dropped_ = n_missing + n_out
        if n_kept == 0:
            msg = (
                f"no training rows left: {n_missing} dropped for missing values and {n_out} "
                f"outside the Tukey fences of {sorted(self.fences_)}, out of {fit.height}; "
                f"filter fewer features (FilterOutliers.only([...])) or check the data"
            )
            raise DataError(msg)
        self._learn_scalers(fit, kept, n_kept, cols)
        self._learn_categories(fit, kept, cols, vocabulary)
        self._learn_classes(fit, kept, cols)
        self._name_features(cols)
        return self

    def _filled(self, c: _Col) -> pl.Expr:
        """Column ``c`` with its missing cells filled, as ``transform`` fills them."""
        fills = self.fill_values_ or {}
        col = pl.col(c.name)
        return col.fill_null(fills[c.name]) if c.name in fills else col

    def _fit_missing(self, fit: _FitRows, cols: list[_Col]) -> tuple[pl.LazyFrame, int]:
        """The fit rows as :meth:`_apply_missing` leaves them (``drop`` rows removed, fills
        applied, to the columns with missing cells only), lazily; and how many were dropped."""
        rows = fit.rows
        maybe = [c for c in cols if fit.frame[c.name].null_count()]
        if not maybe:
            return rows, 0
        counts = fit.select(rows, [pl.col(c.name).null_count() for c in maybe])
        nulls = [c for c, n in zip(maybe, counts, strict=True) if n]
        for c in nulls:
            if c.policy == "error":
                front = [self.id_column] if self.id_column in fit.frame.columns else []
                self._raise_missing(rows.select([*front, c.name]).collect(), c)
        drop = [c.name for c in nulls if c.policy == "drop"]
        n_missing = 0
        if drop:
            rows = rows.filter(pl.all_horizontal([pl.col(n).is_not_null() for n in drop]))
            n_missing = fit.height - fit.count(rows)
        fills = self.fill_values_ or {}
        fill = [pl.col(c.name).fill_null(fills[c.name]) for c in nulls if c.name in fills]
        return (rows.with_columns(fill) if fill else rows), n_missing

    def _keep_expr(self, cols: list[_Col]) -> pl.Expr | None:
        """The row filters of ``transform(training=True)`` as one predicate (None: keep all)."""
        by_name = {c.name: c for c in cols}
        parts = [pl.col(c.name).is_not_null() for c in cols if c.policy == "drop"]
        parts += [f.inside(self._filled(by_name[n])) for n, f in self.fences_.items()]
        return pl.all_horizontal(parts) if parts else None

    def training_mask(self, frame: pl.DataFrame) -> np.ndarray:
        """Per row of a derived frame: kept by the row filters (outliers, ``drop`` policy)?

        ``frame.filter(mask)`` has the rows ``transform(frame, training=True)`` keeps, computed
        without transforming the frame.
        """
        self._check_fitted()
        keep = self._keep_expr([c for c in self._columns() if c.name in frame.columns])
        if keep is None:
            return np.ones(frame.height, dtype=bool)
        return frame.select(keep.alias("keep")).to_series().to_numpy()

    def _learn_fills(self, fit: _FitRows, cols: list[_Col]) -> dict[str, float | str]:
        fills: dict[str, float | str] = {}
        stat_cols = [
            c for c in cols if c.policy in ("mean", "median", "drop") and c.info.kind != "squared"
        ]
        stats: dict[str, Any] = {}
        if stat_cols:
            numeric = [c for c in stat_cols if c.info.spec.one_hot is None]
            exprs = [
                (pl.col(c.name).mean() if c.policy == "mean" else pl.col(c.name).median()).alias(
                    c.name
                )
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

    def _learn_scalers(
        self, fit: _FitRows, kept: pl.LazyFrame, n_kept: int, cols: list[_Col]
    ) -> None:
        scaled = [c for c in cols if c.info.spec.scale is not None]
        if not scaled:
            return
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
                self.scalers_[c.name] = steps.MinMax(lo=a, hi=b)
                constant = not b > a
            else:
                self.scalers_[c.name] = steps.ZScore(mean=a, std=b)
                constant = not b > 0
            if constant:
                logger.info(
                    "column `%s` is constant (%r) on the %d training rows of this fit: "
                    "it is scaled to 0 there and carries no information for this model",
                    c.name,
                    a,
                    n_kept,
                )

    def _learn_categories(
        self,
        fit: _FitRows,
        kept: pl.LazyFrame,
        cols: list[_Col],
        vocabulary: dict[str, dict[str, int]] | None,
    ) -> None:
        for c in cols:
            one_hot = c.info.spec.one_hot
            if one_hot is None:
                continue
            if one_hot.categories is not None:
                self.categories_[c.name] = list(one_hot.categories)
                continue
            counts = vocabulary.get(c.name) if vocabulary else None
            if counts is None:
                counts = _category_counts(fit.series(kept, c.name))
            common, rare = _split_by_frequency(counts, one_hot.min_frequency)
            self.categories_[c.name] = common
            if rare:
                self.rare_categories_[c.name] = rare

    def _learn_classes(self, fit: _FitRows, kept: pl.LazyFrame, cols: list[_Col]) -> None:
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
            self.classes_[c.name] = labels

    @property
    def class_labels_(self) -> list[str] | None:
        """The class target's labels (text), or None for a numeric target."""
        return next(iter(self.classes_.values()), None)

    def _name_features(self, cols: list[_Col]) -> None:
        inputs, groups = [], {}
        for c in cols:
            if c.info.role != "input":
                continue
            for name in self._encoded_names(c):
                inputs.append(name)
                groups[name] = c.info.source
        clash = {n for n in inputs if inputs.count(n) > 1} | (set(inputs) & {self.id_column})
        if clash:
            msg = f"encoded input names clash: {sorted(clash)}; rename the source columns"
            raise SpecError(msg)
        self.input_features_ = inputs
        self.output_features_ = [
            n for c in cols if c.info.role == "output" for n in self._encoded_names(c)
        ]
        self.feature_groups_ = groups

    def _encoded_names(self, c: _Col) -> list[str]:
        spec = c.info.spec
        if spec.classes is not None:
            return encoded_class_names(c.name, self.classes_[c.name])
        if spec.one_hot is not None:
            names = [f"{c.name}_{cat}" for cat in self.categories_[c.name]]
            if self.rare_categories_.get(c.name):
                names.append(self._other_name(c.name))
            if spec.one_hot.unknown == "column":
                names.append(f"{c.name}_unknown")
            return names
        if spec.cyclical is not None:
            return [f"{c.name}_sin", f"{c.name}_cos"]
        return [c.name]

    # ---- transform -------------------------------------------------------------------------

    def transform(self, frame: pl.DataFrame, *, training: bool = False) -> pl.DataFrame:
        """Apply the fitted steps to a derived frame.

        Parameters
        ----------
        frame : polars.DataFrame
            Output of :func:`derive` (any rows: training, validation, new data).
        training : bool, default=False
            Apply the row filters (outliers, ``drop`` missing policy). Only for the rows the
            pipeline was fitted on; other rows are never dropped.

        Returns
        -------
        polars.DataFrame
            The id column, then ``input_features_``, then the output columns present, then the
            other columns of ``frame`` (unused features, date text, extra columns) unchanged
            except for scaling. With ``training=True``, ``frame.height - result.height`` rows
            were dropped; transform never changes the fitted state (``n_dropped_`` is fit's).
        """
        self._check_fitted()
        _check_frame(frame)
        cols = self._columns()
        self._require(frame, cols, outputs=False, what="transform")
        cols = [c for c in cols if c.name in frame.columns]
        frame, _ = self._apply_missing(frame, cols, training=training)
        if training:
            frame, _ = self._filter_outliers(frame)
            if frame.height == 0:
                msg = "no training rows left after the row filters (outliers, missing values)"
                raise DataError(msg)
        self._check_categories(frame, cols)
        exprs: list[pl.Expr] = []
        consumed = set()
        for c in cols:
            exprs += self._forward_exprs(c)
            consumed.add(c.name)
        out = frame.with_columns(exprs) if exprs else frame
        encoded = [n for c in cols for n in self._encoded_names(c)]
        front = [self.id_column] if self.id_column in out.columns else []
        model = [n for n in self.input_features_ if n in encoded]
        model += [n for n in self.output_features_ if n in out.columns]
        replaced = {
            c.name
            for c in cols
            if c.info.spec.one_hot or c.info.spec.cyclical or self._encoded_names(c) != [c.name]
        }
        rest = [n for n in out.columns if n not in set(front) | set(model) | replaced]
        rest = [n for n in rest if n in frame.columns or n in encoded]
        return out.select(front + model + rest)

    def fit_transform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``fit(frame)`` then ``transform(frame, training=True)``."""
        return self.fit(frame).transform(frame, training=True)

    def _forward_exprs(self, c: _Col) -> list[pl.Expr]:
        spec, col = c.info.spec, pl.col(c.name)
        if spec.classes is not None:
            labels = self.classes_[c.name]
            if len(labels) == 2:
                return [(col == labels[1]).cast(pl.Float64).alias(c.name)]
            return [
                (col == label).cast(pl.Float64).alias(name)
                for label, name in zip(labels, self._encoded_names(c), strict=True)
            ]
        if spec.one_hot is not None:
            exprs = [
                (col == cat).fill_null(False).cast(pl.Float64).alias(f"{c.name}_{cat}")
                for cat in self.categories_[c.name]
            ]
            rare = self.rare_categories_.get(c.name, [])
            if rare:
                exprs.append(
                    col.is_in(rare)
                    .fill_null(False)
                    .cast(pl.Float64)
                    .alias(self._other_name(c.name))
                )
            if spec.one_hot.unknown == "column":
                known = col.is_in(self.categories_[c.name] + rare)
                exprs.append((~known).fill_null(False).cast(pl.Float64).alias(f"{c.name}_unknown"))
            return exprs
        if spec.cyclical is not None:
            cyc = steps.Cyclic(period=spec.cyclical.period, start=spec.cyclical.start)
            return [cyc.sin(col).alias(f"{c.name}_sin"), cyc.cos(col).alias(f"{c.name}_cos")]
        scaler = self.scalers_.get(c.name)
        if scaler is None:
            return []
        scaled = scaler.expr(col)
        clip = spec.clip and c.info.role != "output"  # outputs stay exact; see invert_predictions
        return [(scaled.clip(0.0, 1.0) if clip else scaled).alias(c.name)]

    def _check_categories(self, frame: pl.DataFrame, cols: list[_Col]) -> None:
        for c in cols:
            if c.name in self.classes_:
                check_labels(frame, c.name, self.classes_[c.name], where="the rows")
            one_hot = c.info.spec.one_hot
            if one_hot is None or one_hot.unknown != "error":
                continue
            known = self.categories_[c.name] + self.rare_categories_.get(c.name, [])
            unseen = frame[c.name].is_not_null() & ~frame[c.name].is_in(known)
            if unseen.any():
                first = int(unseen.arg_true()[0])
                values = frame[c.name].filter(unseen).unique().sort().to_list()[:_SHOW]
                msg = (
                    f"column `{c.name}` has categories not seen at fit time: {values} (first "
                    f"at id {frame[self.id_column][first]!r}); use OneHot(unknown='zeros') or "
                    f"OneHot(unknown='column') to accept them"
                    if self.id_column in frame.columns
                    else f"column `{c.name}` has categories not seen at fit time: {values}"
                )
                raise DataError(msg)

    def _apply_missing(
        self, frame: pl.DataFrame, cols: list[_Col], *, training: bool
    ) -> tuple[pl.DataFrame, int]:
        fills = self.fill_values_ or {}
        present = [c for c in cols if c.name in frame.columns]
        if not present:
            return frame, 0
        counts = frame.select([pl.col(c.name).null_count() for c in present]).row(0)
        nulls = [c for c, n in zip(present, counts, strict=True) if n]
        if not nulls:
            return frame, 0
        for c in nulls:
            if c.policy == "error":
                self._raise_missing(frame, c)
        n0 = frame.height
        if training:
            drop = [c.name for c in nulls if c.policy == "drop"]
            if drop:
                frame = frame.filter(pl.all_horizontal([pl.col(n).is_not_null() for n in drop]))
        fill = [pl.col(c.name).fill_null(fills[c.name]) for c in nulls if c.name in fills]
        if fill:
            frame = frame.with_columns(fill)
        return frame, n0 - frame.height

    def _raise_missing(self, frame: pl.DataFrame, c: _Col) -> None:
        ids = self._ids_where(frame, frame[c.name].is_null())
        msg = (
            f"column `{c.name}` has {frame[c.name].null_count()} missing value(s) "
            f"(policy 'error'), at id(s) {ids}; set a policy such as Missing('median')"
        )
        raise DataError(msg)

    def _filter_outliers(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        if not self.fences_:
            return frame, 0
        keep = pl.all_horizontal([f.inside(pl.col(n)) for n, f in self.fences_.items()])
        kept = frame.filter(keep)
        return kept, frame.height - kept.height

    # ---- arrays and inverses ---------------------------------------------------------------

    def to_arrays(
        self, frame: pl.DataFrame, dtype: Any = "float32"
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Model-ready arrays from a transformed frame, cast once to the model dtype.

        Returns
        -------
        ids : ndarray of shape (n,)
        x : ndarray of shape (n, n_in), C-contiguous, ``dtype``
        y : ndarray of shape (n, n_out) or None
            None when the output columns are absent (new data to predict).
        """
        self._check_fitted()
        np_dtype = check_dtype(dtype)
        absent = [n for n in self.input_features_ if n not in frame.columns]
        if absent:
            msg = (
                f"frame lacks input column(s) {absent}; pass it through "
                f"Pipeline.transform first. Received columns: {frame.columns}"
            )
            raise DataError(msg)
        ids = frame[self.id_column].to_numpy() if self.id_column in frame.columns else None
        if ids is None:
            ids = np.arange(1, frame.height + 1)
        x = self._array(frame, self.input_features_, ids, np_dtype, "input")
        y = None
        if self.output_features_ and all(n in frame.columns for n in self.output_features_):
            y = self._array(frame, self.output_features_, ids, np_dtype, "output")
        return ids, x, y

    def _array(
        self, frame: pl.DataFrame, names: list[str], ids: np.ndarray, dtype: Any, role: str
    ) -> np.ndarray:
        """``frame[names]`` as a C-contiguous ``dtype`` array; a missing, infinite or too large
        value (beyond float32) is an error naming the column, the id and the value."""
        raw = frame.select(names).to_numpy()
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.ascontiguousarray(raw, dtype=dtype)
        if np.isfinite(arr).all():
            return arr
        row, col = (int(v) for v in np.argwhere(~np.isfinite(arr))[0])
        _raise_bad_value(role, names[col], raw[row, col], ids[row], dtype)

    def encode(
        self, frame: pl.DataFrame, *, consume: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The part of :meth:`transform` + :meth:`to_arrays` that every fold shares.

        One-hot indicators (with the fitted categories) and sin/cos, in ``input_features_``
        order, as float64 arrays, missing cells as NaN; no fill, scaling or clipping, no row
        filter. :meth:`column_steps` holds the rest, so that for any rows
        ``steps.apply(x[rows]).astype(dtype)`` equals ``to_arrays(transform(frame[rows]),
        dtype)[1]`` bit for bit. A k-fold run keeps one such table for all folds instead of a
        transformed copy per fold. The arrays are filled a column at a time (no intermediate
        frame of the whole table); ``consume=True`` also removes each source column from
        ``frame`` once encoded, so that a large table is not held twice (as a frame and as the
        arrays) when nothing else refers to the frame's columns.

        Returns
        -------
        ids : ndarray of shape (n,)
        x : ndarray of shape (n, n_in), float64, C-contiguous
        y : ndarray of shape (n, n_out), float64, or None when the outputs are absent
        """
        self._check_fitted()
        _check_frame(frame)
        cols = self._columns()
        self._require(frame, cols, outputs=False, what="encode")
        cols = [c for c in cols if c.name in frame.columns]
        for c in cols:
            if c.policy == "error" and frame[c.name].null_count():
                self._raise_missing(frame, c)
        self._check_categories(frame, cols)
        ids = frame[self.id_column].to_numpy() if self.id_column in frame.columns else None
        if ids is None:
            ids = np.arange(1, frame.height + 1)
        outputs = [c.name for c in self._columns() if c.info.role == "output"]
        has_y = bool(outputs) and all(n in frame.columns for n in outputs)
        x = np.empty((frame.height, len(self.input_features_)), dtype=np.float64)
        y = np.empty((frame.height, len(self.output_features_)), dtype=np.float64)
        where = {n: (x, j) for j, n in enumerate(self.input_features_)}
        where.update({n: (y, j) for j, n in enumerate(self.output_features_)})
        for c in cols:
            for name, expr in self._encode_exprs(c).items():
                if name in where:
                    out, j = where[name]
                    out[:, j] = frame.select(expr.alias(name)).to_series().to_numpy()
            if consume:
                frame.drop_in_place(c.name)
        return ids, x, (y if has_y else None)

    def _encode_exprs(self, c: _Col) -> dict[str, pl.Expr]:
        """Encoded column name -> expression of the fold-independent part; null stays null."""
        spec, col = c.info.spec, pl.col(c.name)
        if spec.classes is not None:
            return {e.meta.output_name(): e for e in self._forward_exprs(c)}
        if spec.one_hot is not None:
            known = self.categories_[c.name] + self.rare_categories_.get(c.name, [])
            flags = {f"{c.name}_{cat}": col == cat for cat in self.categories_[c.name]}
            if self.rare_categories_.get(c.name):
                flags[self._other_name(c.name)] = col.is_in(self.rare_categories_[c.name])
            if spec.one_hot.unknown == "column":
                flags[f"{c.name}_unknown"] = ~col.is_in(known)
            return {
                n: pl.when(col.is_null()).then(None).otherwise(f.cast(pl.Float64)).alias(n)
                for n, f in flags.items()
            }
        if spec.cyclical is not None:
            cyc = steps.Cyclic(period=spec.cyclical.period, start=spec.cyclical.start)
            return {f"{c.name}_sin": cyc.sin(col), f"{c.name}_cos": cyc.cos(col)}
        return {c.name: col.cast(pl.Float64)}

    def column_steps(self) -> tuple[ColumnSteps, ColumnSteps]:
        """This fit's per-column steps on top of :meth:`encode`: inputs, outputs.

        Fill values (a one-hot or sin/cos column's is its fill category's encoding), min-max
        or z-score as ``(x - offset) / scale``, and ``[0, 1]`` for clipped inputs.
        """
        self._check_fitted()
        by_name: dict[str, _Col] = {}
        for c in self._columns():
            for name in self._encoded_names(c):
                by_name[name] = c
        fills = self.fill_values_ or {}
        encoded_fills: dict[str, float] = {}
        for c in self._columns():
            if c.name in fills and (c.info.spec.one_hot or c.info.spec.cyclical):
                one = pl.DataFrame({c.name: [fills[c.name]]})
                exprs = [e.alias(n) for n, e in self._encode_exprs(c).items()]
                row = one.select(exprs).row(0, named=True)
                encoded_fills.update({k: float(v) for k, v in row.items()})

        def steps_of(names: list[str], clip: bool) -> ColumnSteps:
            cs = ColumnSteps.identity(len(names))
            for j, name in enumerate(names):
                c = by_name[name]
                if name in encoded_fills:
                    cs.fill[j] = encoded_fills[name]
                elif name in fills and not isinstance(fills[name], str):
                    cs.fill[j] = fills[name]
                scaler = self.scalers_.get(name)
                spec = c.info.spec
                if scaler is None or spec.one_hot or spec.cyclical or spec.classes is not None:
                    continue
                cs.offset[j], cs.scale[j] = scaler.offset, scaler.scale
                if clip and c.info.spec.clip:
                    cs.low[j], cs.high[j] = 0.0, 1.0
            return cs

        return steps_of(self.input_features_, True), steps_of(self.output_features_, False)

    def check_encoded(
        self, ids: np.ndarray, x: np.ndarray, y: np.ndarray | None, dtype: Any
    ) -> None:
        """Raise what :meth:`to_arrays` would raise on any rows of :meth:`encode`'s arrays: a
        value that is missing or not finite in ``dtype`` once this fit's steps are applied.

        Each column's steps are monotone, so its smallest and largest values (and its fill)
        decide; the table is read once per column, never transformed whole.
        """
        x_steps, y_steps = self.column_steps()
        for role, arr, steps_, names in (
            ("input", x, x_steps, self.input_features_),
            ("output", y, y_steps, self.output_features_),
        ):
            if arr is None:
                continue
            probe = _extremes(arr)
            probe = np.vstack([probe, np.full(len(names), np.nan)])
            has_nan = np.isnan(probe[0])  # fmin/fmax skip NaN: all missing, or a fill below
            values = steps_.apply(probe.copy())
            with np.errstate(over="ignore", invalid="ignore"):
                cast = values.astype(dtype)
            bad = ~np.isfinite(cast)
            bad[2] &= np.isfinite(steps_.fill) | has_nan
            if not bad.any():
                continue
            kind, col = (int(v) for v in np.argwhere(bad)[0])
            column = arr[:, col]
            target = np.isnan(column) if kind == 2 else column == probe[kind, col]
            row = int(np.flatnonzero(target)[0])
            value = None if kind == 2 and not np.isfinite(steps_.fill[col]) else values[kind, col]
            _raise_bad_value(role, names[col], value, ids[row], dtype)

    def inverse_transform_outputs(self, y: Any) -> np.ndarray:
        """Map model outputs back to original units (e.g. log10 + min-max price -> dollars).

        Parameters
        ----------
        y : array-like of shape (..., n_out)
            Any leading axes (replicas, rows); the last axis follows ``output_features_``.

        Returns
        -------
        ndarray of float64, same shape as ``y``.
        """
        self._check_fitted()
        if self.class_labels_ is not None:
            return class_probabilities(y, len(self.class_labels_))
        arr = np.asarray(y, dtype=np.float64)
        n_out = len(self.output_features_)
        if arr.ndim == 0 or arr.shape[-1] != n_out:
            msg = (
                f"`y` must have {n_out} column(s) on its last axis ({self.output_features_}). "
                f"Received: y.shape={arr.shape}"
            )
            raise ValueError(msg)
        scale, offset, logged = self._output_affine()
        out = arr * scale + offset
        if logged.any():
            out[..., logged] = steps.inverse_log10_array(out[..., logged])
        return out

    def invert_predictions(self, y: Any) -> np.ndarray:
        """Model predictions in original units; outputs marked ``clip`` are first clipped.

        A clipped min-max output cannot be predicted outside the range of the target seen at
        fit (``[0, 1]`` in model units), which keeps an over-fitted fold from predicting, say, a
        billion-dollar house. True values always go through the exact
        :meth:`inverse_transform_outputs`.
        """
        self._check_fitted()
        if self.class_labels_ is not None:
            return class_probabilities(y, len(self.class_labels_), clip=True)
        clip = np.array([bool(self.spec.features[n].clip) for n in self.output_features_])
        arr = np.array(y, dtype=np.float64)
        if clip.any() and arr.ndim and arr.shape[-1] == len(clip):
            arr[..., clip] = np.clip(arr[..., clip], 0.0, 1.0)
        return self.inverse_transform_outputs(arr)

    def _output_affine(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale, offset, logged = [], [], []
        for name in self.output_features_:
            scaler = self.scalers_.get(name)
            scale.append(1.0 if scaler is None else scaler.scale)
            offset.append(0.0 if scaler is None else scaler.offset)
            logged.append(bool(self.spec.features[name].log10))
        return np.array(scale), np.array(offset), np.array(logged, dtype=bool)

    def inverse_transform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Bring a transformed frame back to original units, column by column.

        Scaled and logged columns are inverted exactly; one-hot and sin/cos columns are
        decoded to their source column; added features (month, timestamp, squares) are dropped
        since their source is kept. Mapped values are not reverted (the mapping loses
        information): join on the id column to the raw file for the values as read.
        """
        self._check_fitted()
        cols = self._columns()
        exprs: list[pl.Expr] = []
        names: list[str] = []
        drop: set[str] = set()
        for c in cols:
            spec = c.info.spec
            encoded = self._encoded_names(c)
            if c.info.kind != "base":
                drop.update(encoded)
                continue
            if spec.classes is not None:
                if not all(n in frame.columns for n in encoded):
                    continue
                label = self._decode_classes(c, encoded)
                if spec.dtype == "int":
                    label = label.cast(pl.Int64)
                exprs.append(label.alias(c.name))
                names.append(c.name)
                drop.update(n for n in encoded if n != c.name)
            elif spec.one_hot is not None:
                extra = {f"{c.name}_unknown", self._other_name(c.name)}
                cat_cols = [n for n in encoded if n not in extra]
                if not all(n in frame.columns for n in cat_cols):
                    continue
                chain: Any = None
                for n, cat in zip(cat_cols, self.categories_[c.name], strict=True):
                    cond = pl.col(n) > 0.5
                    chain = (
                        pl.when(cond).then(pl.lit(cat))
                        if chain is None
                        else chain.when(cond).then(pl.lit(cat))
                    )
                expr = chain.otherwise(None) if chain is not None else pl.lit(None, pl.String)
                if spec.dtype in ("int", "float"):
                    expr = expr.cast(pl.Int64 if spec.dtype == "int" else pl.Float64, strict=False)
                exprs.append(expr.alias(c.name))
                names.append(c.name)
                drop.update(encoded)
            elif spec.cyclical is not None:
                sin, cos = encoded
                if sin in frame.columns and cos in frame.columns:
                    cyc = steps.Cyclic(period=spec.cyclical.period, start=spec.cyclical.start)
                    exprs.append(cyc.inverse_expr(pl.col(sin), pl.col(cos)).alias(c.name))
                    names.append(c.name)
                    drop.update(encoded)
            elif c.name in frame.columns:
                expr = pl.col(c.name)
                scaler = self.scalers_.get(c.name)
                if scaler is not None:
                    expr = scaler.inverse_expr(expr)
                if spec.log10:
                    expr = steps.inverse_log10(expr)
                exprs.append(expr.alias(c.name))
                names.append(c.name)
        out = frame.with_columns(exprs) if exprs else frame
        order = [self.id_column] if self.id_column in out.columns else []
        spec_order = [n for n in self.spec.features if n in names or n in frame.columns]
        order += [n for n in spec_order if n not in order and n not in drop]
        order += [n for n in out.columns if n not in order and n not in drop]
        return out.select(order)

    def _decode_classes(self, c: _Col, encoded: list[str]) -> pl.Expr:
        """The label of the largest encoded column (``> 0.5`` for one 0/1 column)."""
        labels = self.classes_[c.name]
        if len(labels) == 2:
            positive = pl.col(c.name) > 0.5
            return pl.when(positive).then(pl.lit(labels[1])).otherwise(pl.lit(labels[0]))
        best = pl.concat_list([pl.col(n) for n in encoded]).list.arg_max()
        return best.replace_strict(list(range(len(labels))), labels, return_dtype=pl.String)

    # ---- persistence -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the spec and the learned state (floats round-trip exactly)."""
        self._check_fitted()
        return {
            "format": _PIPELINE_FORMAT,
            "version": _PIPELINE_VERSION,
            "spec": self.spec.to_dict(),
            "state": {
                "fill_values": self.fill_values_,
                "fences": {k: v.to_dict() for k, v in self.fences_.items()},
                "unfiltered": self.unfiltered_,
                "scalers": {k: v.to_dict() for k, v in self.scalers_.items()},
                "categories": self.categories_,
                "rare_categories": self.rare_categories_,
                "classes": self.classes_,
                "n_fit_rows": self.n_fit_rows_,
                "n_dropped": self.n_dropped_,
                "input_features": self.input_features_,
                "output_features": self.output_features_,
                "feature_groups": self.feature_groups_,
            },
        }

    def to_json(self, indent: int | None = None) -> str:
        """Serialise the fitted pipeline; :meth:`from_json` restores it exactly."""
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` atomically to ``path``."""
        return atomic_write_text(path, self.to_json(indent=1) + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pipeline:
        """Rebuild a fitted pipeline from :meth:`to_dict`."""
        if not isinstance(data, dict) or data.get("format") != _PIPELINE_FORMAT:
            msg = "not a fitted nnforge pipeline (missing `format: nnforge-pipeline`)"
            raise SpecError(msg)
        if data.get("version") != _PIPELINE_VERSION:
            msg = f"unsupported pipeline version. Received: version={data.get('version')!r}"
            raise SpecError(msg)
        pipe = cls(DatasetSpec.from_dict(data["spec"]))
        try:
            st = data["state"]
            pipe.fill_values_ = dict(st["fill_values"])
            pipe.fences_ = {k: steps.Fences(**v) for k, v in st["fences"].items()}
            pipe.unfiltered_ = list(st["unfiltered"])
            pipe.scalers_ = {k: _scaler_from_dict(k, v) for k, v in st["scalers"].items()}
            pipe.categories_ = {k: list(v) for k, v in st["categories"].items()}
            rare = st.get("rare_categories", {})  # absent from pipelines of earlier versions
            pipe.rare_categories_ = {k: list(v) for k, v in rare.items()}
            pipe.classes_ = {k: list(v) for k, v in st.get("classes", {}).items()}
            pipe.n_fit_rows_ = int(st["n_fit_rows"])
            pipe.n_dropped_ = int(st["n_dropped"])
            pipe.input_features_ = list(st["input_features"])
            pipe.output_features_ = list(st["output_features"])
            pipe.feature_groups_ = dict(st["feature_groups"])
        except SpecError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"invalid pipeline state: {exc!r}"
            raise SpecError(msg) from None
        return pipe

    @classmethod
    def from_json(cls, text: str) -> Pipeline:
        """Rebuild a fitted pipeline from :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"pipeline is not valid JSON: {exc}"
            raise SpecError(msg) from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> Pipeline:
        """Read a pipeline written by :meth:`save`."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    # ---- helpers ---------------------------------------------------------------------------

    def _other_name(self, name: str) -> str:
        """The column shared by the rare categories of ``name`` (clear of category columns)."""
        other = f"{name}_other"
        while other.removeprefix(f"{name}_") in self.categories_.get(name, []):
            other += "_"
        return other

    def _check_fitted(self) -> None:
        check_is_fitted(self, "fill_values_")

    def _require(self, frame: pl.DataFrame, cols: list[_Col], *, outputs: bool, what: str) -> None:
        need = [
            c.name for c in cols if c.info.role == "input" or (outputs and c.info.role == "output")
        ]
        absent = [n for n in need if n not in frame.columns]
        if absent:
            msg = (
                f"cannot {what}: column(s) {absent} missing from the frame; pass the output of "
                f"derive(spec, data). Received columns: {frame.columns}"
            )
            raise DataError(msg)

    def _ids_where(self, frame: pl.DataFrame, mask: pl.Series) -> str:
        if self.id_column in frame.columns:
            values = frame[self.id_column].filter(mask).head(_SHOW).to_list()
        else:
            values = [int(i) + 1 for i in mask.arg_true().head(_SHOW).to_list()]
        more = " ..." if int(mask.sum()) > _SHOW else ""
        return ", ".join(map(str, values)) + more

    def __repr__(self) -> str:
        state = (
            f"{len(self.input_features_)} inputs, {len(self.output_features_)} outputs, "
            f"fitted on {self.n_fit_rows_} rows ({self.n_dropped_} dropped)"
            if self.fill_values_ is not None
            else "not fitted"
        )
        return f"Pipeline(spec={self.spec.name!r}, {state})"


def _extremes(arr: np.ndarray) -> np.ndarray:
    """(2, n_cols): each column's smallest and largest value, NaN ignored (one pass each)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.vstack([np.fmin.reduce(arr, axis=0), np.fmax.reduce(arr, axis=0)])


def _raise_bad_value(role: str, name: str, value: Any, id_: Any, dtype: Any) -> None:
    """A missing, infinite or too large (for ``dtype``) model value, naming column and id."""
    value = value.item() if isinstance(value, np.generic) else value
    where = f"{role} column `{name}` has"
    at = f"at id {id_.item() if isinstance(id_, np.generic) else id_!r}"
    if value is None or (isinstance(value, float) and np.isnan(value)):
        msg = f"{where} a missing value {at}"
    elif np.isfinite(np.float64(value)):
        msg = f"{where} {value!r} {at}, too large for {np.dtype(dtype).name}; scale the column"
    else:
        msg = f"{where} {value!r} {at}"
    raise DataError(msg)


# Filtered columns one statistics query may hold at once (a few columns of ten million rows).
_STATS_BYTES = 256 << 20


class _FitRows:
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


def _scaler_from_dict(name: str, data: Any) -> steps.MinMax | steps.ZScore:
    try:
        return steps.scaler_from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        msg = f"the scaler of column `{name}` is invalid: {exc}"
        raise SpecError(msg) from None


def _check_frame(frame: Any) -> None:
    if not isinstance(frame, pl.DataFrame):
        msg = f"`frame` must be a polars DataFrame. Received: {type(frame).__name__}"
        raise TypeError(msg)
