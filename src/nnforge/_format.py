"""One way to show a number to people: log lines, tables, figure labels and the HTML report."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

__all__ = ["currency_symbol", "format_number", "format_quantity", "with_unit"]


def format_number(value: Any, digits: int = 4, *, missing: str = "-") -> str:
    """``25,780`` for large values, ``digits`` significant digits otherwise.

    ``None`` shows as ``missing``; integers get separators from 10,000 on; ``nan``/``inf`` as
    such; anything that is not a number goes through ``str``.

    Examples
    --------
    >>> format_number(0.912345), format_number(123456.7), format_number(None)
    ('0.9123', '123,457', '-')
    """
    if value is None:
        return missing
    if isinstance(value, bool) or not isinstance(value, Real):
        return str(value)
    if isinstance(value, Integral):
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if 1e4 <= abs(number) < 1e15:
        return f"{number:,.0f}"
    return f"{number:.{digits}g}"


# Currency units written as a symbol before the number ("$64,132"); other units follow it.
_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_quantity(value: Any, unit: str | None, digits: int = 4, *, missing: str = "-") -> str:
    """A number with its unit: ``$64,132`` for USD, ``1,180 sq ft``, the bare number without.

    Examples
    --------
    >>> format_quantity(64132.4, "USD"), format_quantity(-5.5, "USD"), format_quantity(3, "year")
    ('$64,132', '-$5.5', '3 year')
    """
    symbol = currency_symbol(unit)
    money = symbol is not None and isinstance(value, Real) and 100 <= abs(value) < 1e15
    text = f"{value:,.0f}" if money else format_number(value, digits, missing=missing)
    if value is None or not unit:
        return text
    if symbol is None:
        return f"{text} {unit}"
    return f"-{symbol}{text[1:]}" if text.startswith("-") else f"{symbol}{text}"


def currency_symbol(unit: str | None) -> str | None:
    """``"$"`` for ``"USD"``; None for units that are not a known currency."""
    return _CURRENCY_SYMBOLS.get(unit or "")


def with_unit(name: str, unit: str | None) -> str:
    """``"price (USD)"`` for labels, or the bare name without a unit."""
    return f"{name} ({unit})" if unit else name
