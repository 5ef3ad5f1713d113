"""One feature of a dataset spec: :class:`FeatureSpec` and the settings it holds.

Mapped-value rules (a selector and an operation), one-hot, cyclical and class-target settings,
and :data:`FEATURE_RULES`, the rules one feature must satisfy (a table of fields, conditions and
messages; :data:`ADDED_FEATURE_RULES` as well for an added feature).
:class:`~nnforge.data.spec.DatasetSpec` holds the features; the builder options that edit them
are in :mod:`nnforge.data.options`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ADDED_FEATURE_RULES",
    "FEATURE_RULES",
    "ClassesSpec",
    "CyclicalSpec",
    "Equal",
    "FeatureSpec",
    "GreaterThan",
    "InRange",
    "IsMissing",
    "LessThan",
    "MapRule",
    "OneHotSpec",
    "ReplaceWith",
    "ReplaceWithFeature",
    "StrictModel",
    "feature_name",
    "feature_problems",
]

ScaleKind = Literal["minmax", "zscore"]
MissingPolicy = Literal["error", "drop", "constant", "mean", "median"]
DType = Literal["int", "float", "str", "bool", "date", "other"]
Scalar = bool | int | float | str


class StrictModel(BaseModel):
    # Unknown keys are errors, so a typo in a JSON spec never silently does nothing.
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------------
# Mapped values: selector (which rows) + operation (what to put there)
# --------------------------------------------------------------------------------------------


class _Tagged(StrictModel):
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


class MapRule(StrictModel):
    """One mapped-values rule; with several rules on a feature, the first match wins."""

    selector: Selector
    op: MapOperation


class OneHotSpec(StrictModel):
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


class CyclicalSpec(StrictModel):
    """Encode a periodic value as ``sin``/``cos`` of ``2π (x - start) / period``.

    For months (``period=12, start=1``) December and January end up next to each other, which a
    min-max scaled month number cannot express.
    """

    period: float = Field(default=12.0, gt=0)
    start: float = 1.0


class ClassesSpec(StrictModel):
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


class FeatureSpec(StrictModel):
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


FeatureSpec.model_rebuild()


def feature_name(node: FeatureSpec) -> str:
    """The name of a feature (empty while an added feature has none)."""
    return node.name or ""


# --------------------------------------------------------------------------------------------
# The rules of one feature
# --------------------------------------------------------------------------------------------


def _is_set(node: FeatureSpec, field: str) -> bool:
    """``node.field`` differs from its default (``one_hot.categories``: a nested field)."""
    *parents, name = field.split(".")
    owner: BaseModel = node
    for parent in parents:
        owner = getattr(owner, parent)
    default = type(owner).model_fields[name].get_default(call_default_factory=True)
    return getattr(owner, name) != default


@dataclass(frozen=True)
class _Forbid:
    """On a feature where ``when`` holds, each of ``fields`` that is set is a problem."""

    fields: tuple[str, ...]
    when: Callable[[FeatureSpec], bool]
    message: str

    def problems(self, path: str, node: FeatureSpec) -> Iterable[tuple[str, str]]:
        if self.when(node):
            for field in self.fields:
                if _is_set(node, field):
                    yield f"{path}.{field}", self.message


@dataclass(frozen=True)
class _Check:
    """On a feature where ``when`` holds, ``field`` is a problem (``message`` may be a function
    of the feature)."""

    field: str
    when: Callable[[FeatureSpec], bool]
    message: str | Callable[[FeatureSpec], str]

    def problems(self, path: str, node: FeatureSpec) -> Iterable[tuple[str, str]]:
        if self.when(node):
            text = self.message if isinstance(self.message, str) else self.message(node)
            yield f"{path}.{self.field}", text


_NUMERIC = ("log10", "filter_outliers", "scale", "squared", "cyclical", "one_hot")
# Set on the source feature only: an added feature takes its role, parsing, fill and mapping.
_SOURCE_ONLY = (
    "output",
    "is_id",
    "date_format",
    "extract_month",
    "extract_timestamp",
    "fill_value",
    "mapped",
)


def _bad_categories(f: FeatureSpec) -> bool:
    cats = None if f.one_hot is None else f.one_hot.categories
    return cats is not None and (not cats or len(set(cats)) != len(cats))


# An added feature (month, timestamp, square) follows its source; checked before FEATURE_RULES.
ADDED_FEATURE_RULES: tuple[_Forbid, ...] = (
    _Forbid(_SOURCE_ONLY, lambda f: True, "not allowed on an added feature"),
    _Forbid(
        ("missing",), lambda f: True, "added features follow the missing policy of their source"
    ),
)

# Every feature's rules, in the order their problems are reported: (fields, when, message).
FEATURE_RULES: tuple[_Forbid | _Check, ...] = (
    # the id column is never transformed
    _Forbid(
        (*_NUMERIC, "output", "date_format"),
        lambda f: f.is_id,
        "not allowed on the id column (ids are never transformed)",
    ),
    _Forbid(("mapped",), lambda f: f.is_id, "not allowed on the id column"),
    # a date column reaches the model through its extracted month/timestamp only
    _Forbid(
        _NUMERIC,
        lambda f: f.date_format is not None,
        "not allowed on a date column; add it to the extracted month/timestamp instead",
    ),
    _Forbid(("mapped",), lambda f: f.date_format is not None, "not allowed on a date column"),
    _Forbid(("output",), lambda f: f.date_format is not None, "a date column cannot be an output"),
    _Check(
        "missing",
        lambda f: f.date_format is not None and f.missing == "constant",
        "a date column cannot be filled with a constant",
    ),
    _Forbid(
        ("extract_month", "extract_timestamp"),
        lambda f: f.date_format is None,
        "needs a `date_format` on the same feature",
    ),
    # outputs
    _Check(
        "used_in_model",
        lambda f: f.output and not f.used_in_model,
        "an output must be used in the model",
    ),
    _Forbid(
        ("squared", "one_hot", "cyclical"),
        lambda f: f.output,
        "not allowed on an output (an added feature of the target would leak it into the inputs)",
    ),
    _Check(
        "missing",
        lambda f: f.output and f.missing not in ("error", "drop"),
        "outputs take `error` or `drop` (rows without a target are left out of training and "
        "scoring; targets are never imputed)",
    ),
    # class targets
    _Check(
        "classes",
        lambda f: f.classes is not None and not f.output,
        "only an output can be a class target; one-hot encode a categorical input",
    ),
    _Forbid(
        ("log10", "filter_outliers", "scale", "clip", "one_hot", "cyclical"),
        lambda f: f.classes is not None,
        "cannot be combined with classes (labels are not numbers)",
    ),
    _Check(
        "classes",
        lambda f: f.classes is not None and f.date_format is not None,
        "a date column cannot be a class target",
    ),
    # one-hot and cyclical encodings
    _Check(
        "one_hot.categories",
        _bad_categories,
        lambda f: f"must be distinct and non-empty. Received: {f.one_hot.categories}",  # type: ignore[union-attr]
    ),
    _Check(
        "one_hot.min_frequency",
        lambda f: (
            f.one_hot is not None
            and f.one_hot.categories is not None
            and f.one_hot.min_frequency > 1
        ),
        "only applies without declared `categories`",
    ),
    _Forbid(
        ("log10", "filter_outliers", "scale", "squared", "cyclical"),
        lambda f: f.one_hot is not None,
        "cannot be combined with one_hot",
    ),
    _Check(
        "missing",
        lambda f: f.one_hot is not None and f.missing in ("mean", "median"),
        "mean/median fill needs a numeric column, not a category",
    ),
    _Forbid(
        ("scale", "squared", "log10"),
        lambda f: f.cyclical is not None,
        "cannot be combined with cyclical (sin/cos are already in [-1, 1])",
    ),
    # scaling and missing values
    _Check(
        "clip",
        lambda f: f.clip and f.scale != "minmax",
        "needs scale='minmax' (the fitted range is [0, 1])",
    ),
    _Check(
        "fill_value",
        lambda f: f.missing == "constant" and f.fill_value is None,
        "required when missing='constant'",
    ),
    _Check(
        "fill_value",
        lambda f: f.missing != "constant" and f.fill_value is not None,
        "only used with missing='constant'",
    ),
    _Check(
        "fill_value",
        lambda f: f.missing == "constant" and f.one_hot is None and isinstance(f.fill_value, str),
        lambda f: f"must be a number. Received: {f.fill_value!r}",
    ),
    _Check(
        "fill_value",
        lambda f: (
            f.log10
            and f.missing == "constant"
            and isinstance(f.fill_value, int | float)
            and f.fill_value <= 0
        ),
        lambda f: f"must be > 0 under log10. Received: {f.fill_value!r}",
    ),
)


def feature_problems(
    path: str, node: FeatureSpec, added: bool, top: set[str]
) -> Iterable[tuple[str, str]]:
    """``(json_path, message)`` for each rule ``node`` breaks; ``top``: the top-level names."""
    for rule in (*ADDED_FEATURE_RULES, *FEATURE_RULES) if added else FEATURE_RULES:
        yield from rule.problems(path, node)
    for i, rule in enumerate(node.mapped):
        op = rule.op
        if isinstance(op, ReplaceWithFeature) and op.feature not in top:
            yield (
                f"{path}.mapped[{i}].op.feature",
                f"unknown feature `{op.feature}`; available: {sorted(top)}",
            )
