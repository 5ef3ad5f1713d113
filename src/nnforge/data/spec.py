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
when it is used (:func:`~nnforge.data.derive.derive`, :class:`~nnforge.data.pipeline.Pipeline`),
serialised (:meth:`DatasetSpec.to_json`) or loaded, and every error names its JSON path, e.g.
``features.yr_renovated.mapped[0].op.feature``.

The features (:class:`FeatureSpec` and what it holds) are defined in :mod:`nnforge.data.features`,
the builder options in :mod:`nnforge.data.options`.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field, ValidationError, model_validator

from nnforge._io import atomic_write_text
from nnforge._validation import format_validation_error
from nnforge.data.features import FeatureSpec, StrictModel, feature_name, feature_problems
from nnforge.data.io import read_table
from nnforge.data.options import Option, check_names, check_option
from nnforge.exceptions import SpecError

__all__ = ["ColumnInfo", "DatasetSpec"]


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


class DatasetSpec(StrictModel):
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
        check_option(option)
        node = self.find(name)
        if node is None:
            msg = f"no feature named `{name}`; available: {self.all_feature_names()}"
            raise SpecError(msg)
        check_names(self, option)
        option.apply(node, True)
        return self

    def add_opt(self, option: Option) -> DatasetSpec:
        """Apply ``option`` to every top-level feature (filtered by ``only``/``except_``)."""
        check_option(option)
        check_names(self, option)
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
            if feature_name(node) == name:
                return node
        return None

    def all_feature_names(self) -> list[str]:
        """Names of all features, added ones included, in derived-frame order."""
        return [feature_name(node) for _, node, _ in _walk(self)]

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
        _collect(feature_name(child), child, source, child_kind, name, f"{path}.{child_kind}", out)


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
        name = feature_name(node)
        if parent is None:
            key = path.removeprefix("features.")
            if name != key:
                yield f"{path}.name", f"must match its key `{key}`. Received: {name!r}"
        elif not name:
            yield f"{path}.name", "an added feature needs a name"
        if name in names:
            yield f"{path}.name", f"duplicate feature name `{name}` (also at {names[name]})"
        names.setdefault(name, path)
        yield from feature_problems(path, node, parent is not None, top)
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
