"""What an extractor hands to the loader.

An extraction delivers its rows in the cheapest form its source allows, and the
loader (:mod:`crmwh.load`) copies them into scratch tables, checks and lands them
in SQL:

* ``typed``: a source that is itself a database streams rows already typed as the
  entity's columns, with their row hash, as binary COPY (sales);
* ``text``: a source streams rows as text COPY into the text scratch table;
* ``csv`` / ``json``: delivered CSV bodies and JSON documents, copied as they are
  into the warehouse and expanded there (billing files, service API pages).

Records that cannot even be split into fields come as :class:`Reject`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import psycopg

# (cursor, target table, columns in order) -> rows copied
TextCopy = Callable[[psycopg.Cursor, str, list[str]], int]
# (cursor, target table, columns in order, constant columns by name) -> rows copied
TypedCopy = Callable[[psycopg.Cursor, str, list[str], Mapping[str, object]], int]


def plain(body: bytes, *forbidden: bytes) -> bool:
    """Valid UTF-8 without NUL, CR or any of ``forbidden``: safe to copy as it is."""
    if any(b in body for b in (b"\x00", b"\r", *forbidden)):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@dataclass(frozen=True)
class Reject:
    """A delivered record that could not be parsed into fields."""

    source_ref: str
    reason: str
    payload: dict


@dataclass(frozen=True)
class SourceFile:
    """A billing file consumed by an extraction (recorded so it is never loaded twice)."""

    name: str
    sha256: str
    drop_date: str
    rows: int


@dataclass(frozen=True)
class FileEvent:
    """A delivered file not consumed, for ``audit.billing_deliveries``: ``held`` (it does
    not match its manifest: a blocking quality failure of the batch) or ``re-delivered``
    (the same bytes as a file loaded from another drop)."""

    drop_date: str
    name: str
    sha256: str
    outcome: str  # held | re-delivered
    check: str  # held: the manifest check it failed; re-delivered: "re-delivery"
    detail: str

    @property
    def ref(self) -> str:
        return f"{self.drop_date}/{self.name}"


@dataclass(frozen=True)
class CsvPart:
    """Delivered CSV records, header line removed, each with the header's fields."""

    ref: str
    header: tuple[str, ...]
    body: bytes  # the records, each ending with a newline
    rows: int
    # one record per line and no quotes: COPY's line numbers are lines of ``body``
    plain: bool = False


@dataclass(frozen=True)
class JsonPart:
    """JSON as delivered: objects one per line, or an API page holding them in ``data``.

    ``body`` passes :func:`plain` (lines: also without \\x01 and \\x02, and ending
    with a newline), so it is copied into the warehouse as it is.
    """

    ref: str
    body: bytes
    page: bool = False

    @property
    def rows(self) -> int:
        """Rows it is copied into scratch as: one per line, or one per page."""
        return 1 if self.page else self.body.count(b"\n")


@dataclass
class Extraction:
    csv: list[CsvPart] = field(default_factory=list)
    json: list[JsonPart] = field(default_factory=list)
    text: TextCopy | None = None
    typed: TypedCopy | None = None
    # the source guarantees no two delivered rows are identical (a primary key)
    distinct_rows: bool = False
    # columns the source guarantees are never NULL once typed (NOT NULL, not text)
    non_null: frozenset[str] = frozenset()
    rejects: list[Reject] = field(default_factory=list)
    watermark_after: str | None = None
    # the loader moves watermark_after to this column's newest delivered value (ISO, UTC;
    # for sources copied as delivered)
    watermark_column: str | None = None
    files: list[SourceFile] = field(default_factory=list)
    file_events: list[FileEvent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source_ref: str | None = None

    @property
    def source_refs(self) -> list[str]:
        if self.source_ref:
            return [self.source_ref]
        refs = {p.ref for p in self.csv} | {p.ref for p in self.json}
        return sorted(refs | {r.source_ref for r in self.rejects})
