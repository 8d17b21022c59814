"""Reading a transactions file: its header checked, its records streamed into the warehouse.

The file is read record by record (never whole): each record's wanted fields, its date
parsed (a cache keeps that cheap: a log repeats few dates) and its line number are
written to ``_import`` by COPY in chunks. A record with the wrong number of fields keeps
its problem for the quarantine; a file that cannot be read at all (missing, empty, not
UTF-8, a named column not in the header) is an error and lands nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from crmwh.errors import CrmwhError

WHITESPACE = "whitespace"  # --delimiter: fields separated by runs of blanks (aligned logs)
FIELDS = ("customer", "date", "amount", "quantity", "order", "product")
CHUNK = 1 << 20  # characters per write into the COPY
IMPORT_TABLE = """create temp table _import (
    line bigint, customer text, ordered_at timestamptz, date_raw text, amount text,
    quantity text, order_ref text, product text, problem text) on commit drop"""


@dataclass(frozen=True)
class TransactionsFile:
    """A delimited transactions file with a header, and which of its columns mean what."""

    path: Path
    columns: dict[str, str]  # field (FIELDS) -> the file's column name; customer/date/amount
    date_format: str | None = None  # strptime format; None: ISO 8601 (2026-03-31, 20260331)
    delimiter: str = ","

    @property
    def ref(self) -> str:
        return f"import:{self.path.name}"


def _records(spec: TransactionsFile, handle: io.TextIOBase) -> Iterator[list[str]]:
    if spec.delimiter == WHITESPACE:
        return (line.split() for line in handle)
    return csv.reader(handle, delimiter=spec.delimiter)


def _parse_date(text: str, date_format: str | None) -> str | None:
    """A date or timestamp as ISO text, or None when it does not parse. Without a zone it
    stays without one: the session reads it in the reporting time zone."""
    try:
        value = (datetime.strptime(text, date_format) if date_format
                 else datetime.fromisoformat(text))
    except ValueError:
        return None
    return value.isoformat()


def _open(spec: TransactionsFile) -> io.TextIOBase:
    if not spec.path.is_file():
        raise CrmwhError(f"no file {spec.path}", "give the path of a delimited transactions file")
    return open(spec.path, encoding="utf-8", newline="" if spec.delimiter != WHITESPACE else None)


def _positions(spec: TransactionsFile, header: list[str]) -> dict[str, int]:
    names = [h.strip() for h in header]
    missing = [f"{col!r} (--{field}-col)" for field, col in spec.columns.items()
               if col not in names]
    if missing:
        raise CrmwhError(f"{spec.path.name} has no column {', '.join(missing)}; its header is "
                         f"{', '.join(map(repr, names))}",
                         "name columns of the header (check --delimiter too)")
    return {field: names.index(col) for field, col in spec.columns.items()}


def copy_file(cur: psycopg.Cursor, spec: TransactionsFile) -> int:
    """Stream the file's records into ``_import``; return how many records it has."""
    cur.execute(IMPORT_TABLE)
    handle = _open(spec)
    try:
        with handle:
            records = _records(spec, handle)
            header = next(records, None)
            if not header:
                raise CrmwhError(f"{spec.path.name} is empty",
                                 "give a file with a header line and transactions")
            return _stream(cur, spec, records, _positions(spec, header), len(header))
    except UnicodeDecodeError as exc:
        raise CrmwhError(f"{spec.path.name} is not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start} of a read block)",
                         "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    except csv.Error as exc:
        raise CrmwhError(f"{spec.path.name} cannot be read as delimited text: {exc}",
                         "check --delimiter and the file's quoting") from None


def _stream(cur: psycopg.Cursor, spec: TransactionsFile, records: Iterator[list[str]],
            at: dict[str, int], width: int) -> int:
    dates: dict[str, str | None] = {}
    fields = [at.get(f) for f in FIELDS]
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    rows = 0
    with cur.copy("copy _import from stdin (format csv)") as copy:
        for line, record in enumerate(records, start=2):
            if not record:  # a blank line
                continue
            rows += 1
            if len(record) != width:
                out.writerow((line, "", "", "", "", "", "", "",
                              f"malformed line {line}: {len(record)} fields, header has {width}"))
            else:
                customer, day, amount, quantity, order, product = (
                    record[i].strip() if i is not None else "" for i in fields)
                if day not in dates:
                    dates[day] = _parse_date(day, spec.date_format)
                out.writerow((line, customer, dates[day] or "", day, amount, quantity, order,
                              product, ""))
            if buf.tell() > CHUNK:
                copy.write(buf.getvalue())
                buf.seek(0)
                buf.truncate()
        copy.write(buf.getvalue())
    return rows
