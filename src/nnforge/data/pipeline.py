"""Fitted, revertible preprocessing: from a derived frame to model-ready arrays, and back.

Two stages, because they have different lifetimes:

* :func:`~nnforge.data.derive.derive` applies the *stateless*, row-wise steps of a
  :class:`DatasetSpec` and attaches the id column; its output is cached on disk.
* :class:`Pipeline` holds the *fitted* steps: missing-value fills, Tukey fences, min-max/z-score
  scalers and one-hot categories are learned from the rows it is fitted on (the training rows of
  one fold) and applied unchanged to any other rows. Row filters (outliers, ``drop`` missing
  policy) only ever remove training rows: validation and new rows are never dropped, so scores
  are computed on every row.

Every numeric step has an exact inverse, so outputs and frames come back in original units.
What ``fit`` learns is computed in :mod:`nnforge.data.fitting`; the arrays and the inverses are
:class:`~nnforge.data.arrays.ModelArrays`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nnforge._io import atomic_write_text
from nnforge._validation import check_is_fitted
from nnforge.data import steps
from nnforge.data.arrays import ModelArrays
from nnforge.data.derive import _SHOW
from nnforge.data.fitting import (
    Col,
    FitRows,
    check_frame,
    learn_categories,
    learn_classes,
    learn_fences,
    learn_fills,
    learn_scalers,
)
from nnforge.data.spec import DatasetSpec
from nnforge.data.targets import check_labels, encoded_class_names
from nnforge.exceptions import DataError, SpecError

__all__ = ["Pipeline"]

_PIPELINE_FORMAT = "nnforge-pipeline"
_PIPELINE_VERSION = 1


class Pipeline(ModelArrays):
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

    def _columns(self) -> list[Col]:
        """Columns transformed by the pipeline (inputs, outputs, unused), in spec order."""
        sources = self.spec.features
        out = []
        for info in self.spec.columns():
            if info.role in ("id", "date") or info.passthrough:
                continue
            source = sources[info.source]
            out.append(Col(info, source.missing, source))
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
            (:func:`~nnforge.data.fitting.one_hot_vocabulary` of the whole file), so that every
            fold encodes the same columns. Declared ``categories`` take precedence.
        rows : ndarray of int, optional
            Fit on these rows of ``frame`` (sorted positions), exactly as on ``frame[rows]``
            but without copying them: the statistics are read a few columns at a time.

        Raises
        ------
        DataError
            Missing columns, missing values under the ``error`` policy, or no rows left after
            filtering.
        """
        check_frame(frame)
        self._reset()
        cols = self._columns()
        self._require(frame, cols, outputs=True, what="fit")
        fit = FitRows(frame, rows)
        self.n_fit_rows_ = fit.height
        self.fill_values_ = learn_fills(fit, cols)
        filled, n_missing = self._fit_missing(fit, cols)
        self.fences_, self.unfiltered_ = learn_fences(fit, filled, cols)
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
        self.scalers_ = learn_scalers(fit, kept, n_kept, cols)
        self.categories_, self.rare_categories_ = learn_categories(fit, kept, cols, vocabulary)
        self.classes_ = learn_classes(fit, kept, cols)
        self._name_features(cols)
        return self

    def _filled(self, c: Col) -> pl.Expr:
        """Column ``c`` with its missing cells filled, as ``transform`` fills them."""
        fills = self.fill_values_ or {}
        col = pl.col(c.name)
        return col.fill_null(fills[c.name]) if c.name in fills else col

    def _fit_missing(self, fit: FitRows, cols: list[Col]) -> tuple[pl.LazyFrame, int]:
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

    def _keep_expr(self, cols: list[Col]) -> pl.Expr | None:
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

    @property
    def class_labels_(self) -> list[str] | None:
        """The class target's labels (text), or None for a numeric target."""
        return next(iter(self.classes_.values()), None)

    def _name_features(self, cols: list[Col]) -> None:
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

    def _encoded_names(self, c: Col) -> list[str]:
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
        check_frame(frame)
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

    def _forward_exprs(self, c: Col) -> list[pl.Expr]:
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

    def _check_categories(self, frame: pl.DataFrame, cols: list[Col]) -> None:
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
        self, frame: pl.DataFrame, cols: list[Col], *, training: bool
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

    def _raise_missing(self, frame: pl.DataFrame, c: Col) -> None:
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

    def _require(self, frame: pl.DataFrame, cols: list[Col], *, outputs: bool, what: str) -> None:
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


def _scaler_from_dict(name: str, data: Any) -> steps.MinMax | steps.ZScore:
    try:
        return steps.scaler_from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        msg = f"the scaler of column `{name}` is invalid: {exc}"
        raise SpecError(msg) from None
