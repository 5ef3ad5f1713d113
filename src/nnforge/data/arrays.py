"""The arrays a model sees, and the way back to original units.

:class:`ModelArrays` is the part of :class:`~nnforge.data.pipeline.Pipeline` that turns
transformed (or derived) frames into NumPy arrays (:meth:`~ModelArrays.to_arrays`, the shared
table of :meth:`~ModelArrays.encode` with its per-fold :meth:`~ModelArrays.column_steps`) and
model outputs or frames back into original units. It reads the pipeline's fitted state and its
per-column helpers (``_columns``, ``_encoded_names``, ``_forward_exprs``, ``_other_name``,
``_check_categories``, ``_raise_missing``, ``_require``, ``_check_fitted``).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from nnforge._validation import check_dtype
from nnforge.data import steps
from nnforge.data.affine import ColumnSteps
from nnforge.data.fitting import Col, check_frame
from nnforge.data.table import ColumnFilledTable
from nnforge.data.targets import class_probabilities
from nnforge.exceptions import DataError

if TYPE_CHECKING:
    from nnforge.data.spec import DatasetSpec

__all__ = ["ModelArrays"]


class ModelArrays:
    """Arrays and inverses of a fitted :class:`~nnforge.data.pipeline.Pipeline` (a mixin)."""

    spec: DatasetSpec
    fill_values_: dict[str, float | str] | None
    scalers_: dict[str, steps.MinMax | steps.ZScore]
    categories_: dict[str, list[str]]
    rare_categories_: dict[str, list[str]]
    classes_: dict[str, list[str]]
    input_features_: list[str]
    output_features_: list[str]
    id_column: str
    class_labels_: list[str] | None

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
        frame of the whole table, see :class:`~nnforge.data.table.ColumnFilledTable`);
        ``consume=True`` also removes each source column from ``frame`` once encoded, so that a
        large table is not held twice (as a frame and as the arrays) when nothing else refers
        to the frame's columns.

        Returns
        -------
        ids : ndarray of shape (n,)
        x : ndarray of shape (n, n_in), float64, C-contiguous
        y : ndarray of shape (n, n_out), float64, or None when the outputs are absent
        """
        self._check_fitted()
        check_frame(frame)
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
        x = ColumnFilledTable(frame.height, len(self.input_features_))
        y = ColumnFilledTable(frame.height, len(self.output_features_))
        where = {n: (x, j) for j, n in enumerate(self.input_features_)}
        where.update({n: (y, j) for j, n in enumerate(self.output_features_)})
        for c in cols:
            for name, expr in self._encode_exprs(c).items():
                if name in where:
                    out, j = where[name]
                    out.set_column(j, frame.select(expr.alias(name)).to_series().to_numpy())
            if consume:
                frame.drop_in_place(c.name)
        return ids, x.finish(), (y.finish() if has_y else None)

    def _encode_exprs(self, c: Col) -> dict[str, pl.Expr]:
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
        by_name: dict[str, Col] = {}
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

    def _decode_classes(self, c: Col, encoded: list[str]) -> pl.Expr:
        """The label of the largest encoded column (``> 0.5`` for one 0/1 column)."""
        labels = self.classes_[c.name]
        if len(labels) == 2:
            positive = pl.col(c.name) > 0.5
            return pl.when(positive).then(pl.lit(labels[1])).otherwise(pl.lit(labels[0]))
        best = pl.concat_list([pl.col(n) for n in encoded]).list.arg_max()
        return best.replace_strict(list(range(len(labels))), labels, return_dtype=pl.String)


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
