"""One way to show a number to people: log lines, tables, figure labels and the HTML report."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

__all__ = ["format_number"]


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
