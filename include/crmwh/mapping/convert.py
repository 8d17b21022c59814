"""One delivered record (a file's row, an API object) renamed and converted onto the contract.

Contract columns are read from their mapped source fields, constants and defaults
filled in, dates and timestamps read in their format and zone; source fields no
contract column reads keep their own names (the loader keeps them in ``_extra``).
A value that does not convert is handed on as delivered: the loader quarantines it.
"""

from __future__ import annotations

from typing import Any

from crmwh.mapping import times
from crmwh.mapping.model import ColumnMap, EntityMap


class Converter:
    """Converts the records of one mapped entity."""

    def __init__(self, emap: EntityMap) -> None:
        types = {c.name: c.type for c in emap.entity.columns}
        self.plan = [(name, m, types[name], times.zone(m.timezone) if m.timezone else None)
                     for name, m in emap.columns.items()]
        self.used = emap.used
        self.contract = set(types)

    def _value(self, m: ColumnMap, type_: str, tz, record: dict[str, Any]) -> tuple[bool, Any]:
        """(whether the record gives the column at all, its value)."""
        if m.value is not None:
            return True, m.value
        given = m.column in record
        value = record.get(m.column)
        if (value is None or value == "") and m.default is not None:
            return True, m.default
        if isinstance(value, str) and (m.format or tz is not None):
            value = times.to_iso(value, type_, m.format, tz)
        return given, value

    def record(self, record: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, m, type_, tz in self.plan:
            given, value = self._value(m, type_, tz, record)
            if given:
                out[name] = value
        for key, value in record.items():
            if key not in self.used:
                out[key if key not in self.contract else f"source.{key}"] = value
        return out

    def fields(self, header: list[str]) -> list[str]:
        """The fields a converted row of a file with ``header`` has, in order."""
        return list(self.record(dict.fromkeys(header, "")))
