"""Dates and timestamps a source writes its own way: their format, and naive times' zone.

A format is a ``strptime`` format (``%d.%m.%Y %H:%M``). A value that does not read
in its format is handed on as delivered, so the loader quarantines the row with
``bad <type> in <column>`` like any other unreadable value.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DIRECTIVES = set("YymdbBjHIpMSfzaA%")
DATE_PARTS = ({"Y", "y"}, {"m", "b", "B"}, {"d"})


def format_problem(fmt: str, type_: str) -> str | None:
    """What is wrong with ``fmt`` as the format of a ``type_`` column (None: nothing)."""
    found = re.findall(r"%(.?)", fmt)
    odd = [d for d in found if d not in DIRECTIVES]
    if odd:
        return f"unknown directive %{odd[0]} in format {fmt!r}"
    missing = [sorted(p)[0] for p in DATE_PARTS if not p & set(found) and "j" not in found]
    if missing:
        return f"format {fmt!r} has no %{missing[0]} (a {type_} needs year, month and day)"
    return None


def zone(name: str) -> ZoneInfo | None:
    """The time zone called ``name`` (None: there is none)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def to_iso(value: str, type_: str, fmt: str | None, tz: ZoneInfo | None) -> str:
    """``value`` as ISO text: read in ``fmt`` (else ISO), naive times taken in ``tz``.
    Empty, and unreadable, values come back unchanged."""
    if not value:
        return value
    try:
        parsed = (datetime.strptime(value, fmt) if fmt
                  else datetime.fromisoformat(value))
    except ValueError:
        return value
    if type_ == "date":
        return parsed.date().isoformat()
    if parsed.tzinfo is None and tz is not None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.isoformat()
