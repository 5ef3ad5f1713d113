"""Declarative dataset specification: which columns, which roles, which preprocessing.

A :class:`DatasetSpec` is validated data (pydantic) that round-trips through JSON. It can be
written by hand, loaded from a file, or built in code with the seed's builder vocabulary::

    spec = DatasetSpec.from_file("kc_house_data.csv")
    (spec.remove_features(["id", "zipcode", "sqft_living15", "sqft_lot15"])
        .add_opt_to("date", DateFormat("%Y%m%dT%H%M%S"))
        .add_opt_to("date", Not(UsedInModel))
        .add_opt_to("date", AddExtractedMonth)
        .add_opt_to("date", AddExtractedTimestamp)
        .add_opt_to("yr_renovated", Mapped(Equal(0), ReplaceWithFeature("yr_built")))
        .add_opt_to("price", Out)
        .add_opt(Log10.only(["sqft_living", "sqft_above", "price"]))
        .add_opt(AddSquared.except_(["price", "date"]).incl_added_features())
        .add_opt(FilterOutliers.except_(["date"]).incl_added_features())
        .add_opt(Normalized.except_(["date"]).incl_added_features()))

Added features (extracted month, extracted timestamp, squares) are nested feature specs with their
own options, exactly like the seed's ``with_extracted_month``/``with_squared``. They are named
``<name>_month``, ``<name>_timestamp`` and ``<name>_squared``. ``incl_added_features()`` applies an
option to the features added so far as well (checking ``only``/``except_`` against their own
names), which is how squares of the extracted date features get filtered and normalised.

Building mutates the spec in place and returns it (chainable); validation of the whole spec runs
when it is used (:func:`~nnforge.data.pipeline.derive`, :class:`~nnforge.data.pipeline.Pipeline`),
serialised (:meth:`DatasetSpec.to_json`) or loaded, and every error names its JSON path, e.g.
``features.yr_renovated.mapped[0].op.feature``.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nnforge._io import atomic_write_text
from nnforge._validation import format_validation_error
from nnforge.data.io import read_table
from nnforge.exceptions import SpecError

__all__ = [
    "AddExtractedMonth",
    "AddExtractedTimestamp",
    "AddSquared",
    "Classes",
    "ClassesSpec",
    "ColumnInfo",
    "Cyclical",
    "CyclicalMonth",
    "CyclicalSpec",
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
    "OneHotSpec",
    "Option",
    "Out",
    "ReplaceWith",
    "ReplaceWithFeature",
    "Standardized",
    "Unit",
    "UsedInModel",
]

ScaleKind = Literal["minmax", "zscore"]
MissingPolicy = Literal["error", "drop", "constant", "mean", "median"]
DType = Literal["int", "float", "str", "bool", "date", "other"]
Scalar = bool | int | float | str


class _Strict(BaseModel):
    # Unknown keys are errors, so a typo in a JSON spec never silently does nothing.
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------------
# Mapped values: selector (which rows) + operation (what to put there)
# --------------------------------------------------------------------------------------------


class _Tagged(_Strict):
    """Base of the tagged-union members: ``kind`` (which picks the member in JSON) is implied in
    Python calls, and positional arguments fill the ``_positional`` fields in order."""

    _positional: ClassVar[tuple[str, ...]] = ("value",)

    def __init__(self, /, *args: Any, **data: Any) -> None:
        if len(args) > len(self._positional):
            msg = (
                f"{type(self).__name__} takes at most {len(self._positional)} positional "
                f"arguments ({', '.join(self._positional)}). Received: {args!r}"
            )
            raise TypeError(msg)
        data.update(zip(self._positional, args, strict=False))
        data.setdefault("kind", type(self).model_fields["kind"].annotation.__args__[0])  # type: ignore[union-attr]
        super().__init__(**data)


class Equal(_Tagged):
    """Select rows whose value equals ``value``."""

    kind: Literal["equal"]
    value: int | float | str


class LessThan(_Tagged):
    """Select rows whose value is strictly less than ``value``."""

    kind: Literal["less_than"]
    value: float


class GreaterThan(_Tagged):
    """Select rows whose value is strictly greater than ``value``."""

    kind: Literal["greater_than"]
    value: float


class InRange(_Tagged):
    """Select rows with ``low <= value <= high`` (both ends included)."""

    _positional = ("low", "high")
    kind: Literal["in_range"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> InRange:
        if self.low > self.high:
            msg = f"`low` must be <= `high`. Received: low={self.low}, high={self.high}"
            raise ValueError(msg)
        return self


class IsMissing(_Tagged):
    """Select rows whose value is missing (empty cell, null or NaN)."""

    _positional = ()
    kind: Literal["is_missing"]


class ReplaceWith(_Tagged):
    """Replace the selected values by a constant."""

    kind: Literal["replace_with"]
    value: int | float | str


class ReplaceWithFeature(_Tagged):
    """Replace the selected values by another feature's value on the same row.

    The seed uses it to replace ``yr_renovated == 0`` (never renovated) by ``yr_built``. The
    other feature's value is taken as read from the file, before any transform.
    """

    _positional = ("feature",)
    kind: Literal["replace_with_feature"]
    feature: str


Selector = Annotated[
    Equal | LessThan | GreaterThan | InRange | IsMissing, Field(discriminator="kind")
]
MapOperation = Annotated[ReplaceWith | ReplaceWithFeature, Field(discriminator="kind")]


class MapRule(_Strict):
    """One mapped-values rule; with several rules on a feature, the first match wins."""

    selector: Selector
    op: MapOperation


class OneHotSpec(_Strict):
    """One-hot encoding with a policy for categories not seen at fit time.

    ``unknown="error"`` rejects them, ``"zeros"`` encodes them as an all-zero row and ``"column"``
    adds a ``<name>_unknown`` indicator column (always 0 on the rows the pipeline was fitted on).

    The vocabulary is fixed before the folds are split, so every fold gets the same columns even
    when a category occurs in one row only: ``categories`` when declared, else every category
    name of the whole file (names only: no target information leaks). Rare categories, seen
    fewer than ``min_frequency`` times in the file, share one ``<name>_other`` column.
    """

    unknown: Literal["error", "zeros", "column"] = "error"
    categories: list[str] | None = Field(
        default=None,
        description=(
            "the vocabulary, in column order; default: the category names of the whole data "
            "file (names only, no target information), so every fold has the same columns"
        ),
    )
    min_frequency: int = Field(
        default=1,
        ge=1,
        description=(
            "categories seen fewer times in the whole file share one `<name>_other` column "
            "(only when `categories` is not given)"
        ),
    )


class CyclicalSpec(_Strict):
    """Encode a periodic value as ``sin``/``cos`` of ``2π (x - start) / period``.

    For months (``period=12, start=1``) December and January end up next to each other, which a
    min-max scaled month number cannot express.
    """

    period: float = Field(default=12.0, gt=0)
    start: float = 1.0


class ClassesSpec(_Strict):
    """A class target: the output is a label (text or integer), 2 or more classes.

    ``labels`` fixes the classes and their order (the network's outputs follow it). Left out,
    training learns them from the whole file (so every fold has the same outputs) and stores
    them in the run's spec. Two classes are encoded as one 0/1 output (``labels[1]`` is the
    positive class, for a sigmoid), more as one-hot outputs ``<name>_<label>`` (for a softmax).
    """

    labels: list[int] | list[str] | None = None

    @model_validator(mode="after")
    def _distinct(self) -> ClassesSpec:
        if self.labels is not None:
            text = [str(v) for v in self.labels]
            if len(text) < 2:
                msg = f"a class target needs at least 2 labels. Received: labels={self.labels}"
                raise ValueError(msg)
            if len(set(text)) != len(text):
                msg = f"labels must be distinct. Received: labels={self.labels}"
                raise ValueError(msg)
        return self

    def label_text(self) -> list[str] | None:
        """The labels as text, the form they take in derived frames (None when not fixed)."""
        return None if self.labels is None else [str(v) for v in self.labels]


# --------------------------------------------------------------------------------------------
# Features and the dataset
# --------------------------------------------------------------------------------------------


class FeatureSpec(_Strict):
    """One column of the dataset (or one added feature) with its role and preprocessing.

    Stateless options (applied by ``derive``, in this order): ``dtype`` check, ``date_format``
    parsing with ``extract_month``/``extract_timestamp``, ``mapped`` values, ``log10``, then the
    ``squared`` added feature (the square of the logged value). Fitted options (applied by
    ``Pipeline``): ``missing`` policy, ``filter_outliers`` (Tukey fences, training rows only),
    ``scale`` (``"minmax"`` or ``"zscore"``), ``one_hot`` and ``cyclical``.
    """

    name: str | None = Field(default=None, description="required on added features only")
    dtype: DType | None = Field(default=None, description="type inferred from the file")
    output: bool = False
    is_id: bool = False
    used_in_model: bool = True
    date_format: str | None = None
    extract_month: FeatureSpec | None = None
    extract_timestamp: FeatureSpec | None = None
    mapped: list[MapRule] = Field(default_factory=list)
    log10: bool = False
    squared: FeatureSpec | None = None
    filter_outliers: bool = False
    scale: ScaleKind | None = None
    clip: bool = Field(
        default=False,
        description=(
            "min-max only: inputs are clipped to [0, 1] (the fitted range) when transformed; "
            "for an output, predictions are clipped to it before they are reverted"
        ),
    )
    one_hot: OneHotSpec | None = None
    cyclical: CyclicalSpec | None = None
    classes: ClassesSpec | None = Field(
        default=None, description="a class target (on the output): labels instead of numbers"
    )
    missing: MissingPolicy = "error"
    fill_value: int | float | str | None = None
    unit: str | None = Field(
        default=None,
        description="unit of the values (e.g. USD), shown in summaries, reports and axis labels",
    )

    def added_features(self) -> list[tuple[str, FeatureSpec]]:
        """The features added to this one, as ``(kind, spec)`` in a fixed order."""
        out = []
        for kind in ("extract_month", "extract_timestamp", "squared"):
            child = getattr(self, kind)
            if child is not None:
                out.append((kind, child))
        return out


@dataclass(frozen=True)
class ColumnInfo:
    """One column of a derived frame, as described by the spec.

    Attributes
    ----------
    name : str
        Column name in the derived frame.
    source : str
        Top-level feature it comes from (its group for importance).
    kind : str
        ``"base"`` (the feature itself), ``"extract_month"``, ``"extract_timestamp"`` or
        ``"squared"``.
    role : str
        ``"input"``, ``"output"``, ``"unused"`` (kept, not fed to the model), ``"date"`` (the raw
        date text, kept) or ``"id"``.
    spec : FeatureSpec
        The (possibly nested) feature spec.
    parent : str or None
        Column this one is computed from (added features only).
    path : str
        JSON path of ``spec``, for error messages.
    """

    name: str
    source: str
    kind: str
    role: str
    spec: FeatureSpec
    parent: str | None
    path: str

    @property
    def passthrough(self) -> bool:
        """An unused column with no added features: carried along as read, never parsed,
        checked for missing values or transformed (the model never sees it)."""
        return self.kind == "base" and self.role == "unused" and not self.spec.added_features()


class DatasetSpec(_Strict):
    """The dataset: its features (keyed by column name, in file order) and the id column.

    Parameters
    ----------
    name : str, default="dataset"
        A label (the file stem for :meth:`from_file`).
    id_column : str, default="id"
        Name of the row-number id column that ``derive`` attaches when no feature has
        ``is_id`` (the seed's ``AttachIds::new("id")``). Row ids are the 1-based data-row numbers
        of the input, so they also locate a row in the file.
    separator : str, optional
        CSV field separator, one character (default: ``,``, tab for ``.tsv``).
    encoding : str, optional
        Text encoding of a CSV file, any Python codec name (default: UTF-8).
    na_values : list of str, default=[]
        Cell texts that mean "missing" (exact match after trimming spaces), like pandas'
        ``na_values``; they become null before any type check or missing-value policy.
    features : dict of str to FeatureSpec
        The columns used, in order. Columns of the file not listed here are ignored.
    """

    name: str = "dataset"
    id_column: str = "id"
    separator: str | None = Field(
        default=None, description="CSV field separator (default: `,`, tab for .tsv)"
    )
    encoding: str | None = Field(
        default=None, description="text encoding of a CSV file, e.g. latin-1 (default: UTF-8)"
    )
    na_values: list[str] = Field(
        default_factory=list,
        description="cell texts read as missing values (like pandas' na_values), e.g. ['?', 'NA']",
    )
    features: dict[str, FeatureSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> DatasetSpec:
        for key, feature in self.features.items():
            if feature.name is None:
                feature.name = key
        problems = list(_semantic_problems(self))
        if problems:
            raise ValueError("; ".join(f"{path}: {msg}" for path, msg in problems))
        return self

    # ---- construction / serialisation ------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path) -> DatasetSpec:
        """Start a spec with every column of a data file as a plain input feature.

        Each feature's ``dtype`` records the type inferred from the file (``int``, ``float``,
        ``str``, ...); print the spec (or :meth:`summary`) to list them.

        Examples
        --------
        >>> spec = DatasetSpec.from_file("kc_house_data.csv")  # doctest: +SKIP
        >>> print(spec.summary())  # doctest: +SKIP
        """
        frame = read_table(path)
        return cls.from_frame(frame, name=Path(path).stem)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, name: str = "dataset") -> DatasetSpec:
        """Start a spec with every column of ``frame`` as a plain input feature."""
        features = {
            col: FeatureSpec(name=col, dtype=_dtype_label(dtype))
            for col, dtype in frame.schema.items()
        }
        return cls.model_construct(name=name, id_column="id", features=features)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSpec:
        """Validate a plain dict; errors become :class:`SpecError` naming the JSON path."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            msg = format_validation_error(exc, "dataset spec", data)
            raise SpecError(msg) from None

    @classmethod
    def from_json(cls, text: str) -> DatasetSpec:
        """Parse and validate a JSON spec (see :meth:`to_json`)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"dataset spec is not valid JSON: {exc}"
            raise SpecError(msg) from None
        if not isinstance(data, dict):
            msg = f"dataset spec must be a JSON object. Received: {type(data).__name__}"
            raise SpecError(msg)
        return cls.from_dict(data)

    @classmethod
    def from_json_file(cls, path: str | Path) -> DatasetSpec:
        """Load a JSON spec file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"cannot read dataset spec `{path}`: {exc.strerror or exc}"
            raise SpecError(msg) from exc
        try:
            return cls.from_json(text)
        except SpecError as exc:
            raise SpecError(f"{path}: {exc}") from None

    def validated(self) -> DatasetSpec:
        """Return a validated deep copy (builder edits are only checked here)."""
        return type(self).from_dict(self.to_dict(check=False))

    def to_dict(self, *, check: bool = True) -> dict[str, Any]:
        """Plain JSON-able dict, leaving out defaults and the (redundant) top-level names."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        data.setdefault("name", self.name)
        data["features"] = {
            key: {k: v for k, v in feat.items() if k != "name"}
            for key, feat in data.get("features", {}).items()
        }
        if check:
            type(self).from_dict(data)
        return data

    def to_json(self, indent: int | None = 2) -> str:
        """Validate and serialise to JSON; :meth:`from_json` reads it back unchanged."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_json_file(self, path: str | Path) -> Path:
        """Write :meth:`to_json` atomically to ``path``."""
        return atomic_write_text(path, self.to_json() + "\n")

    # ---- builder (mutates and returns self, like the seed's &mut Self) ---------------------

    def remove_features(self, names: Sequence[str]) -> DatasetSpec:
        """Drop features from the spec (and so from the derived frame)."""
        names = [names] if isinstance(names, str) else list(names)
        unknown = [n for n in names if n not in self.features]
        if unknown:
            msg = f"cannot remove unknown features {unknown}; available: {list(self.features)}"
            raise SpecError(msg)
        for n in names:
            del self.features[n]
        return self

    def add_opt_to(self, name: str, option: Option) -> DatasetSpec:
        """Apply ``option`` to one feature (a top-level feature or an added one by its name)."""
        _check_option(option)
        node = self.find(name)
        if node is None:
            msg = f"no feature named `{name}`; available: {self.all_feature_names()}"
            raise SpecError(msg)
        _check_names(self, option)
        option.apply(node, True)
        return self

    def add_opt(self, option: Option) -> DatasetSpec:
        """Apply ``option`` to every top-level feature (filtered by ``only``/``except_``)."""
        _check_option(option)
        _check_names(self, option)
        for feature in self.features.values():
            option.apply(feature, True)
        return self

    # ---- queries ---------------------------------------------------------------------------

    def read_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~nnforge.data.read_table` for this dataset's files."""
        return {"separator": self.separator, "encoding": self.encoding, "na_values": self.na_values}

    def find(self, name: str) -> FeatureSpec | None:
        """The feature (top-level or added) called ``name``, or None."""
        for _, node, _ in _walk(self):
            if _name(node) == name:
                return node
        return None

    def all_feature_names(self) -> list[str]:
        """Names of all features, added ones included, in derived-frame order."""
        return [_name(node) for _, node, _ in _walk(self)]

    @property
    def id_name(self) -> str:
        """The id column of derived frames: the ``is_id`` feature, else ``id_column``."""
        for key, feature in self.features.items():
            if feature.is_id:
                return key
        return self.id_column

    def columns(self) -> list[ColumnInfo]:
        """Every column of the derived frame (id excluded when attached), in order."""
        out: list[ColumnInfo] = []
        for key, feature in self.features.items():
            _collect(key, feature, key, "base", None, f"features.{key}", out)
        return out

    def in_features_names(self) -> list[str]:
        """Model input columns (before one-hot/cyclical expansion, which needs a fit)."""
        return [c.name for c in self.columns() if c.role == "input"]

    def out_features_names(self) -> list[str]:
        """Model output (predicted) columns."""
        return [c.name for c in self.columns() if c.role == "output"]

    @property
    def class_target(self) -> str | None:
        """The output marked as a class target (``classes``), if any."""
        for key, feature in self.features.items():
            if feature.output and feature.classes is not None:
                return key
        return None

    def steps(self) -> list[tuple[str, list[str]]]:
        """The preprocessing in the order it runs (derive, then the fitted pipeline): each kind
        of step with the columns it touches, e.g. ``("log10", ["sqft_living", "price"])``."""
        kinds: dict[str, list[str]] = {}
        for col in self.columns():
            f = col.spec
            checks = (
                (f"parse dates ({f.date_format})", bool(f.date_format)),
                ("extract month", f.extract_month is not None),
                ("extract timestamp", f.extract_timestamp is not None),
                (f"map values ({len(f.mapped)} rule(s))", bool(f.mapped)),
                ("log10", f.log10),
                ("add square", f.squared is not None),
                (f"missing values: {f.missing}", f.missing != "error"),
                ("drop Tukey outliers (training rows only)", f.filter_outliers),
                (f"scale ({f.scale}, fitted per fold)", f.scale is not None),
                ("clip to the fitted range", f.clip),
                ("one-hot", f.one_hot is not None),
                ("cyclical", f.cyclical is not None),
            )
            for kind, applies in checks:
                if applies and col.role != "id":
                    kinds.setdefault(kind, []).append(col.name)
        order = [
            "parse dates",
            "extract month",
            "extract timestamp",
            "map values",
            "log10",
            "add square",
            "missing values",
            "drop Tukey",
            "scale",
            "clip",
            "one-hot",
            "cyclical",
        ]
        ranked = sorted(
            kinds, key=lambda k: next(i for i, o in enumerate(order) if k.startswith(o))
        )
        return [(kind, kinds[kind]) for kind in ranked]

    def units(self) -> dict[str, str]:
        """The declared ``unit`` of each column that has one."""
        return {c.name: c.spec.unit for c in self.columns() if c.spec.unit}

    def summary(self) -> str:
        """A table of the features with their inferred types and options."""
        rows = [("column", "type", "role", "options")]
        for col in self.columns():
            label = col.name if col.kind == "base" else f"  {col.name} (from {col.parent})"
            dtype = col.spec.dtype or ("float" if col.kind != "base" else "?")
            rows.append((label, dtype, col.role, _describe(col.spec)))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [f"dataset {self.name!r}: {len(self.features)} features (id: {self.id_name})"]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            lines.append(("  " + "  ".join([*cells, row[3]])).rstrip())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


FeatureSpec.model_rebuild()


# --------------------------------------------------------------------------------------------
# Builder options (the seed's FeatureOptions)
# --------------------------------------------------------------------------------------------


class Option:
    """A feature option of the builder API.

    Subclasses implement ``apply(feature, value)``, where ``value=False`` undoes the option (that
    is what :class:`Not` passes). ``only``, ``except_`` and ``incl_added_features`` wrap an option
    to target several features at once with the seed's exact semantics.
    """

    def apply(self, feature: FeatureSpec, value: bool) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def only(self, names: Sequence[str]) -> Option:
        """Apply to the named features only."""
        return _Only(self, _as_list(names))

    def except_(self, names: Sequence[str]) -> Option:
        """Apply to every feature except the named ones."""
        return _Except(self, _as_list(names))

    def incl_added_features(self) -> Option:
        """Also apply to the features added so far (extracted month/timestamp, squares)."""
        return _InclAdded(self)

    def _names(self) -> list[str]:
        return []


class _Field(Option):
    def __init__(self, field: str, on: Any, off: Any, label: str) -> None:
        self._field, self._on, self._off, self._label = field, on, off, label

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        setattr(feature, self._field, self._on if value else self._off)

    def __repr__(self) -> str:
        return self._label


class _AddFeature(Option):
    def __init__(self, field: str, suffix: str, label: str) -> None:
        self._field, self._suffix, self._label = field, suffix, label

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        if not value:
            setattr(feature, self._field, None)
        elif getattr(feature, self._field) is None:
            name = f"{_name(feature)}{self._suffix}"
            setattr(feature, self._field, FeatureSpec(name=name))

    def __repr__(self) -> str:
        return self._label


class Not(Option):
    """Negate an option, e.g. ``Not(UsedInModel)`` keeps a column out of the model inputs."""

    def __init__(self, option: Option) -> None:
        self._option = option

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        self._option.apply(feature, not value)

    def _names(self) -> list[str]:
        return self._option._names()

    def __repr__(self) -> str:
        return f"Not({self._option!r})"


class _Only(Option):
    def __init__(self, option: Option, names: list[str]) -> None:
        self._option, self._list = option, names

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        if _name(feature) in self._list:
            self._option.apply(feature, value)

    def _names(self) -> list[str]:
        return self._list + self._option._names()

    def __repr__(self) -> str:
        return f"{self._option!r}.only({self._list})"


class _Except(Option):
    def __init__(self, option: Option, names: list[str]) -> None:
        self._option, self._list = option, names

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        if _name(feature) not in self._list:
            self._option.apply(feature, value)

    def _names(self) -> list[str]:
        return self._list + self._option._names()

    def __repr__(self) -> str:
        return f"{self._option!r}.except_({self._list})"


class _InclAdded(Option):
    # The seed's RecurseAdded: the *whole* wrapper recurses into the features added so far
    # (so only/except are checked against their names), then the inner option applies to the
    # feature itself. Features created by this very application are not visited.
    def __init__(self, option: Option) -> None:
        self._option = option

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        for _, child in feature.added_features():
            self.apply(child, value)
        self._option.apply(feature, value)

    def _names(self) -> list[str]:
        return self._option._names()

    def __repr__(self) -> str:
        return f"{self._option!r}.incl_added_features()"


class DateFormat(Option):
    """Parse the column as a date with a ``strftime`` format, e.g. ``"%Y%m%dT%H%M%S"``."""

    def __init__(self, fmt: str) -> None:
        self._fmt = fmt

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        feature.date_format = self._fmt if value else None
        if value:
            feature.dtype = "str" if feature.dtype in (None, "str") else feature.dtype

    def __repr__(self) -> str:
        return f"DateFormat({self._fmt!r})"


class Unit(Option):
    """Declare the unit of a column's values, e.g. ``Unit("USD")``: summaries say "$64,132"."""

    def __init__(self, unit: str) -> None:
        self._unit = unit

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        feature.unit = self._unit if value else None

    def __repr__(self) -> str:
        return f"Unit({self._unit!r})"


class Mapped(Option):
    """Replace selected values, e.g. ``Mapped(Equal(0), ReplaceWithFeature("yr_built"))``."""

    def __init__(self, selector: Any, op: Any) -> None:
        self._rule = MapRule(selector=selector, op=op)

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        if value:
            feature.mapped = [*feature.mapped, self._rule.model_copy(deep=True)]
        else:
            feature.mapped = []

    def _names(self) -> list[str]:
        op = self._rule.op
        return [op.feature] if isinstance(op, ReplaceWithFeature) else []

    def __repr__(self) -> str:
        return f"Mapped({self._rule.selector!r}, {self._rule.op!r})"


class OneHot(Option):
    """One-hot encode the column; ``unknown`` is the policy for unseen categories, and
    ``categories``/``min_frequency`` fix the vocabulary (see :class:`OneHotSpec`)."""

    def __init__(
        self,
        unknown: Literal["error", "zeros", "column"] = "error",
        *,
        categories: Sequence[str] | None = None,
        min_frequency: int = 1,
    ) -> None:
        cats = None if categories is None else [str(c) for c in categories]
        self._spec = OneHotSpec(unknown=unknown, categories=cats, min_frequency=min_frequency)

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        feature.one_hot = self._spec.model_copy() if value else None

    def __repr__(self) -> str:
        return f"OneHot(unknown={self._spec.unknown!r})"


class Classes(Option):
    """Make the output a class target (see :class:`ClassesSpec`); ``labels`` fixes the order."""

    def __init__(self, labels: Sequence[int | str] | None = None) -> None:
        self._spec = ClassesSpec(labels=None if labels is None else list(labels))

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        feature.classes = self._spec.model_copy(deep=True) if value else None

    def __repr__(self) -> str:
        return f"Classes(labels={self._spec.labels!r})"


class Cyclical(Option):
    """Encode a periodic value as sin/cos (see :class:`CyclicalSpec`)."""

    def __init__(self, period: float = 12.0, start: float = 1.0) -> None:
        self._spec = CyclicalSpec(period=period, start=start)

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        feature.cyclical = self._spec.model_copy() if value else None

    def __repr__(self) -> str:
        return f"Cyclical(period={self._spec.period}, start={self._spec.start})"


class Missing(Option):
    """Missing-value policy: ``"error"`` (default), ``"drop"``, ``"constant"``, ``"mean"``,
    ``"median"``.

    ``"drop"`` removes training rows only; on other rows (validation, new data) the value is
    filled with the training median, so that every row still gets a prediction. ``"constant"``
    takes ``fill_value`` in the column's original units.
    """

    def __init__(self, policy: MissingPolicy, fill_value: Scalar | None = None) -> None:
        self._policy, self._fill = policy, fill_value

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        feature.missing = self._policy if value else "error"
        feature.fill_value = self._fill if value else None

    def __repr__(self) -> str:
        return f"Missing({self._policy!r}, {self._fill!r})"


Out = _Field("output", True, False, "Out")
Out.__doc__ = "Mark the feature as a model output (the predicted value)."
IsId = _Field("is_id", True, False, "IsId")
UsedInModel = _Field("used_in_model", True, False, "UsedInModel")
Log10 = _Field("log10", True, False, "Log10")
FilterOutliers = _Field("filter_outliers", True, False, "FilterOutliers")
Normalized = _Field("scale", "minmax", None, "Normalized")
Standardized = _Field("scale", "zscore", None, "Standardized")
Clipped = _Field("clip", True, False, "Clipped")
Clipped.__doc__ = (
    "Clip a min-max input to [0, 1] after scaling, so rows outside the training range (and "
    "their squares) cannot push a ReLU network into wild extrapolation; on an output, clip the "
    "predictions to the target range seen at fit before reverting them."
)
AddSquared = _AddFeature("squared", "_squared", "AddSquared")
AddExtractedMonth = _AddFeature("extract_month", "_month", "AddExtractedMonth")
AddExtractedTimestamp = _AddFeature("extract_timestamp", "_timestamp", "AddExtractedTimestamp")
CyclicalMonth = Cyclical(period=12.0, start=1.0)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _as_list(names: Sequence[str]) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def _name(node: FeatureSpec) -> str:
    return node.name or ""


def _check_option(option: Any) -> None:
    if not isinstance(option, Option):
        msg = (
            f"`option` must be a feature option such as Log10, Out or DateFormat('%Y-%m-%d'). "
            f"Received: option={option!r}"
        )
        raise TypeError(msg)


def _check_names(spec: DatasetSpec, option: Option) -> None:
    # The seed silently ignored unknown names in only/except; a typo there would silently skip a
    # transform, so we reject it.
    known = set(spec.all_feature_names())
    unknown = [n for n in option._names() if n not in known]
    if unknown:
        msg = f"option {option!r} names unknown features {unknown}; available: {sorted(known)}"
        raise SpecError(msg)


def _walk(spec: DatasetSpec) -> Iterator[tuple[str, FeatureSpec, FeatureSpec | None]]:
    """Depth-first (path, node, parent) over every feature, added ones included."""

    def rec(path: str, node: FeatureSpec, parent: FeatureSpec | None) -> Iterator[Any]:
        yield path, node, parent
        for kind, child in node.added_features():
            yield from rec(f"{path}.{kind}", child, node)

    for key, feature in spec.features.items():
        if feature.name is None:
            feature.name = key
        yield from rec(f"features.{key}", feature, None)


def _collect(
    name: str,
    node: FeatureSpec,
    source: str,
    kind: str,
    parent: str | None,
    path: str,
    out: list[ColumnInfo],
) -> None:
    if kind == "base":
        if node.is_id:
            role = "id"
        elif node.date_format is not None:
            role = "date"
        elif node.output:
            role = "output"
        else:
            role = "input" if node.used_in_model else "unused"
    else:
        role = "input" if node.used_in_model else "unused"
    out.append(ColumnInfo(name, source, kind, role, node, parent, path))
    for child_kind, child in node.added_features():
        _collect(_name(child), child, source, child_kind, name, f"{path}.{child_kind}", out)


def _dtype_label(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_float() or dtype.is_decimal():
        return "float"
    if dtype in (pl.String, pl.Categorical, pl.Enum) or isinstance(dtype, pl.Categorical):
        return "str"
    if dtype.is_temporal():
        return "date"
    return "other"


def _describe(node: FeatureSpec) -> str:
    parts = []
    for field in ("output", "is_id", "log10", "filter_outliers", "clip"):
        if getattr(node, field):
            parts.append(field)
    if not node.used_in_model:
        parts.append("not used in model")
    if node.date_format:
        parts.append(f"date_format={node.date_format!r}")
    if node.mapped:
        parts.append(f"mapped x{len(node.mapped)}")
    if node.scale:
        parts.append(node.scale)
    if node.one_hot:
        parts.append(f"one_hot(unknown={node.one_hot.unknown})")
    if node.cyclical:
        parts.append(f"cyclical(period={node.cyclical.period:g})")
    if node.classes:
        labels = node.classes.labels
        parts.append("classes" + ("" if labels is None else f" {labels}"))
    if node.missing != "error":
        parts.append(f"missing={node.missing}")
    if node.unit:
        parts.append(f"unit={node.unit}")
    return ", ".join(parts)


def _read_option_problems(spec: DatasetSpec) -> Iterable[tuple[str, str]]:
    if spec.separator is not None and (len(spec.separator) != 1 or spec.separator in '\r\n"'):
        yield "separator", f"must be one character (not a quote). Received: {spec.separator!r}"
    if spec.encoding is not None:
        try:
            codecs.lookup(spec.encoding)
        except LookupError:
            yield "encoding", f"unknown text encoding. Received: {spec.encoding!r}"


def _semantic_problems(spec: DatasetSpec) -> Iterable[tuple[str, str]]:
    """Cross-field checks, each yielding ``(json_path, message)``."""
    yield from _read_option_problems(spec)
    names: dict[str, str] = {}
    top = set(spec.features)
    ids = [k for k, f in spec.features.items() if f.is_id]
    if len(ids) > 1:
        yield "features", f"at most one feature can be the id column. Received: {ids}"
    for path, node, parent in _walk(spec):
        name = _name(node)
        if parent is None:
            key = path.removeprefix("features.")
            if name != key:
                yield f"{path}.name", f"must match its key `{key}`. Received: {name!r}"
        elif not name:
            yield f"{path}.name", "an added feature needs a name"
        if name in names:
            yield f"{path}.name", f"duplicate feature name `{name}` (also at {names[name]})"
        names.setdefault(name, path)
        yield from _node_problems(path, node, parent, top)
    outputs = [k for k, f in spec.features.items() if f.output]
    classes = [k for k in outputs if spec.features[k].classes is not None]
    if classes and len(outputs) > 1:
        yield (
            f"features.{classes[0]}.classes",
            f"a class target must be the only output. Received outputs: {outputs}",
        )
    if not ids and spec.id_column in names:
        yield (
            "id_column",
            f"the attached id column `{spec.id_column}` clashes with a feature of that name; "
            f"remove that feature, mark it IsId, or choose another `id_column`",
        )


def _node_problems(
    path: str, node: FeatureSpec, parent: FeatureSpec | None, top: set[str]
) -> Iterable[tuple[str, str]]:
    numeric = ("log10", "filter_outliers", "scale", "squared", "cyclical", "one_hot")
    used = [f for f in numeric if getattr(node, f) not in (None, False)]
    if parent is not None:
        for field in ("output", "is_id"):
            if getattr(node, field):
                yield f"{path}.{field}", "not allowed on an added feature"
        for field in ("date_format", "extract_month", "extract_timestamp", "fill_value"):
            if getattr(node, field) is not None:
                yield f"{path}.{field}", "not allowed on an added feature"
        if node.mapped:
            yield f"{path}.mapped", "not allowed on an added feature"
        if node.missing != "error":
            yield f"{path}.missing", "added features follow the missing policy of their source"
    if node.is_id:
        for field in [*used, "output", "date_format"]:
            if getattr(node, field) not in (None, False):
                yield f"{path}.{field}", "not allowed on the id column (ids are never transformed)"
        if node.mapped:
            yield f"{path}.mapped", "not allowed on the id column"
    if node.date_format is not None:
        for field in used:
            yield (
                f"{path}.{field}",
                "not allowed on a date column; add it to the extracted month/timestamp instead",
            )
        if node.mapped:
            yield f"{path}.mapped", "not allowed on a date column"
        if node.output:
            yield f"{path}.output", "a date column cannot be an output"
        if node.missing == "constant":
            yield f"{path}.missing", "a date column cannot be filled with a constant"
    else:
        for field in ("extract_month", "extract_timestamp"):
            if getattr(node, field) is not None:
                yield f"{path}.{field}", "needs a `date_format` on the same feature"
    if node.output:
        if not node.used_in_model:
            yield f"{path}.used_in_model", "an output must be used in the model"
        for field in ("squared", "one_hot", "cyclical"):
            if getattr(node, field) is not None:
                yield (
                    f"{path}.{field}",
                    "not allowed on an output (an added feature of the target would leak it "
                    "into the inputs)",
                )
        if node.missing not in ("error", "drop"):
            yield (
                f"{path}.missing",
                "outputs take `error` or `drop` (rows without a target are left out of training"
                " and scoring; targets are never imputed)",
            )
    if node.classes is not None:
        if not node.output:
            yield (
                f"{path}.classes",
                "only an output can be a class target; one-hot encode a categorical input",
            )
        for field in ("log10", "filter_outliers", "scale", "clip", "one_hot", "cyclical"):
            if getattr(node, field) not in (None, False):
                yield f"{path}.{field}", "cannot be combined with classes (labels are not numbers)"
        if node.date_format is not None:
            yield f"{path}.classes", "a date column cannot be a class target"
    if node.one_hot is not None:
        cats = node.one_hot.categories
        if cats is not None and (not cats or len(set(cats)) != len(cats)):
            yield f"{path}.one_hot.categories", f"must be distinct and non-empty. Received: {cats}"
        if cats is not None and node.one_hot.min_frequency > 1:
            yield f"{path}.one_hot.min_frequency", "only applies without declared `categories`"
        for field in ("log10", "filter_outliers", "scale", "squared", "cyclical"):
            if getattr(node, field) not in (None, False):
                yield f"{path}.{field}", "cannot be combined with one_hot"
        if node.missing in ("mean", "median"):
            yield f"{path}.missing", "mean/median fill needs a numeric column, not a category"
    if node.cyclical is not None:
        for field in ("scale", "squared", "log10"):
            if getattr(node, field) not in (None, False):
                yield (
                    f"{path}.{field}",
                    "cannot be combined with cyclical (sin/cos are already in [-1, 1])",
                )
    if node.clip and node.scale != "minmax":
        yield f"{path}.clip", "needs scale='minmax' (the fitted range is [0, 1])"
    if node.missing == "constant" and node.fill_value is None:
        yield f"{path}.fill_value", "required when missing='constant'"
    if node.missing != "constant" and node.fill_value is not None:
        yield f"{path}.fill_value", "only used with missing='constant'"
    if node.missing == "constant" and node.one_hot is None and isinstance(node.fill_value, str):
        yield f"{path}.fill_value", f"must be a number. Received: {node.fill_value!r}"
    if (
        node.log10
        and node.missing == "constant"
        and isinstance(node.fill_value, int | float)
        and node.fill_value <= 0
    ):
        yield f"{path}.fill_value", f"must be > 0 under log10. Received: {node.fill_value!r}"
    for i, rule in enumerate(node.mapped):
        op = rule.op
        if isinstance(op, ReplaceWithFeature) and op.feature not in top:
            yield (
                f"{path}.mapped[{i}].op.feature",
                f"unknown feature `{op.feature}`; available: {sorted(top)}",
            )
