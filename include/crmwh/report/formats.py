"""How the report prints numbers: counts and money with thousands separators (never ``e+``
notation), shares as percent, hours with one decimal; an empty cell for a missing value."""

from __future__ import annotations

import math
from decimal import Decimal

Number = int | float | Decimal | None


def _missing(value: Number) -> bool:
    return value is None or (isinstance(value, float | Decimal) and math.isnan(float(value)))


def count(value: Number) -> str:
    return "" if _missing(value) else f"{int(value):,}"


def money(value: Number) -> str:
    """Whole currency units: ``364,912`` or ``-1,250``."""
    return "" if _missing(value) else f"{float(value):,.0f}"


def percent(value: Number, decimals: int = 1) -> str:
    """A share 0..1 as ``12.3 %``."""
    return "" if _missing(value) else f"{float(value) * 100:.{decimals}f} %"


def hours(value: Number) -> str:
    return "" if _missing(value) else f"{float(value):,.1f} h"


def score(value: Number, decimals: int = 2) -> str:
    """A ratio or score such as satisfaction C (``1.04``) or NPS (``12.5``)."""
    return "" if _missing(value) else f"{float(value):,.{decimals}f}"


def compact_money(value: float) -> str:
    """Axis ticks: ``350k``, ``1.2M``, ``-40k``, ``900``."""
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:,.1f}M".replace(".0M", "M")
    if size >= 1e3:
        return f"{value / 1e3:,.0f}k"
    return f"{value:,.0f}"
