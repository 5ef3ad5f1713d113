"""Stateless steps of a dataset spec: from a file or frame to the derived frame.

:func:`derive` applies the row-wise steps of a :class:`DatasetSpec` (type checks, date parsing
with month/timestamp extraction, mapped values, log10, squares) and attaches the id column. Its
output depends only on the spec and the file, so it is cached on disk. The fitted steps that
follow are :class:`~nnforge.data.pipeline.Pipeline`'s.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import polars as pl

from nnforge import __version__
from nnforge.data import steps
from nnforge.data.cache import DerivedCache, file_sha256, resolve_cache_dir
from nnforge.data.features import (
    Equal,
    GreaterThan,
    InRange,
    IsMissing,
    LessThan,
    MapRule,
    ReplaceWith,
)
from nnforge.data.io import read_table, row_label
from nnforge.data.spec import ColumnInfo, DatasetSpec
from nnforge.data.targets import check_labels, label_text
from nnforge.exceptions import DataError, SpecError

__all__ = ["derive", "drop_missing_targets"]

_SHOW = 10  # how many offending rows/ids an error lists
_TMP = "__nnforge_parsed_"


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
