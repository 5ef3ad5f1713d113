"""The builder options of a dataset spec (the seed's ``FeatureOptions``).

Each option edits a :class:`~nnforge.data.features.FeatureSpec` in place:
``spec.add_opt_to("date", DateFormat("%Y%m%dT%H%M%S"))`` or, for several features at once,
``spec.add_opt(Log10.only(["sqft_living", "price"]))``. ``Not(option)`` undoes one, and
``only``/``except_``/``incl_added_features`` choose the features with the seed's semantics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from nnforge.data.features import (
    ClassesSpec,
    CyclicalSpec,
    FeatureSpec,
    MapRule,
    MissingPolicy,
    OneHotSpec,
    ReplaceWithFeature,
    Scalar,
    feature_name,
)
from nnforge.exceptions import SpecError

if TYPE_CHECKING:
    from nnforge.data.spec import DatasetSpec

__all__ = [
    "AddExtractedMonth",
    "AddExtractedTimestamp",
    "AddSquared",
    "Classes",
    "Clipped",
    "Cyclical",
    "CyclicalMonth",
    "DateFormat",
    "FilterOutliers",
    "IsId",
    "Log10",
    "Mapped",
    "Missing",
    "Normalized",
    "Not",
    "OneHot",
    "Option",
    "Out",
    "Standardized",
    "Unit",
    "UsedInModel",
    "check_names",
    "check_option",
]


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
        return _Listed(self, _as_list(names), listed=True)

    def except_(self, names: Sequence[str]) -> Option:
        """Apply to every feature except the named ones."""
        return _Listed(self, _as_list(names), listed=False)

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
            name = f"{feature_name(feature)}{self._suffix}"
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


class _Listed(Option):
    # `.only(names)` (listed=True) or `.except_(names)` (listed=False): apply the option to the
    # features whose name is (or is not) in the list.
    def __init__(self, option: Option, names: list[str], *, listed: bool) -> None:
        self._option, self._list, self._listed = option, names, listed

    def apply(self, feature: FeatureSpec, value: bool) -> None:
        if (feature_name(feature) in self._list) == self._listed:
            self._option.apply(feature, value)

    def _names(self) -> list[str]:
        return self._list + self._option._names()

    def __repr__(self) -> str:
        method = "only" if self._listed else "except_"
        return f"{self._option!r}.{method}({self._list})"


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


def _as_list(names: Sequence[str]) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def check_option(option: Any) -> None:
    """Raise a TypeError unless ``option`` is a builder option."""
    if not isinstance(option, Option):
        msg = (
            f"`option` must be a feature option such as Log10, Out or DateFormat('%Y-%m-%d'). "
            f"Received: option={option!r}"
        )
        raise TypeError(msg)


def check_names(spec: DatasetSpec, option: Option) -> None:
    """Raise a SpecError when ``option``'s ``only``/``except_`` names a feature ``spec`` lacks."""
    # The seed silently ignored unknown names in only/except; a typo there would silently skip a
    # transform, so we reject it.
    known = set(spec.all_feature_names())
    unknown = [n for n in option._names() if n not in known]
    if unknown:
        msg = f"option {option!r} names unknown features {unknown}; available: {sorted(known)}"
        raise SpecError(msg)
