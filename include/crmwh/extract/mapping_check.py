"""The mapping file checked against the live sources, before anything is extracted.

Every mapped table and column must exist: the Postgres source's
``information_schema``, a billing file's header (the newest file of each entity), and
each SQL expression must run. The first mistake is one :class:`CrmwhError` naming the
file, the key path and the fix. Only the sources the file lists are checked live (the
default mapping, the simulators, is the contract itself); the service API's fields
are checked as pages arrive (a missing required field stops the load).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path

import psycopg

from crmwh.as_of import end_of
from crmwh.errors import CrmwhError
from crmwh.extract import billing, sales
from crmwh.mapping import model
from crmwh.mapping.model import EntityMap, Mapping, SourceMap
from crmwh.settings import Settings

TIMESTAMPTZ = "timestamp with time zone"


def _columns(f: Path, emap: EntityMap, have: list[str], what: str) -> None:
    """Each column the mapping reads must be one of ``have`` (the source's columns)."""
    for c in emap.entity.columns:
        m = emap.columns[c.name]
        if m.column is None or m.column in have:
            continue
        listed = ", ".join(have[:12]) + (", ..." if len(have) > 12 else "")
        if m.column != c.name:
            raise CrmwhError(f"{f}: {m.key}: {what} has no column {m.column!r}",
                             f"map {c.name} to one of its columns: {listed}")
        if c.required:
            raise CrmwhError(f"{f}: {m.key}: the required contract column {c.name} is not "
                             f"mapped and {what} has no column {c.name!r}",
                             f"add {m.key}: <one of {listed}> (or value: / sql:)")


def _sales_columns(conn: psycopg.Connection, f: Path, emap: EntityMap) -> list[str]:
    schema, _, table = emap.where.rpartition(".")
    cols = [r[0] for r in conn.execute(
        "select column_name from information_schema.columns where table_schema = "
        "coalesce(nullif(%s, ''), current_schema()) and table_name = %s order by ordinal_position",
        (schema, table)).fetchall()]
    if not cols:
        raise CrmwhError(f"{f}: {emap.key}.table: the sales database has no table "
                         f"{emap.where!r} (or cannot read it)",
                         "name an existing table as table or schema.table, and grant select")
    return cols


def _sales_sql(conn: psycopg.Connection, f: Path, emap: EntityMap) -> None:
    for m in emap.columns.values():
        if m.sql is None:
            continue
        try:
            with conn.transaction():
                conn.execute(f"select ({m.sql}) from {sales.qualified(emap.where)} t limit 0")
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise CrmwhError(f"{f}: {m.key}.sql: {first}",
                             "write an SQL expression over the table as t, e.g. t.col") from None


def check_sales(cfg: Settings, source: SourceMap) -> None:
    with sales._connect(source.dsn(cfg)) as conn:
        for emap in source.entities.values():
            _columns(source.file, emap, _sales_columns(conn, source.file, emap),
                     f"the sales table {emap.where}")
            _sales_sql(conn, source.file, emap)
            got = sales._Source(conn, emap, None, end_of(date.today()))
            kind = got.source_types.get("updated_at")
            if kind != TIMESTAMPTZ and "updated_at" not in got.python:
                raise CrmwhError(
                    f"{source.file}: {emap.columns['updated_at'].key}: the change column is "
                    f"{kind} in the source, not a timestamp with time zone",
                    "add timezone: (for a timestamp without time zone) or sql: to convert it")


def _header(path: Path, fmt: str | None, emap: EntityMap) -> list[str]:
    """A billing file's fields: its CSV header, or the keys of its first JSON line."""
    with path.open("rb") as fh:
        first = fh.readline().decode(emap.dialect.encoding, errors="replace")
    if fmt == "csv":
        d = emap.dialect
        return next(csv.reader(io.StringIO(first), delimiter=d.delimiter, quotechar=d.quote),
                    [])
    try:
        record = json.loads(first)
    except ValueError:
        return []
    return list(record) if isinstance(record, dict) else []


def check_billing(cfg: Settings, source: SourceMap) -> None:
    folder = source.folder(cfg)
    newest: dict[str, tuple[Path, str | None]] = {}
    for drop, listing in billing._drops(folder, date.max, source.manifest):
        for item in listing["files"]:
            for emap in source.entities.values():
                if fnmatchcase(item["name"], emap.where):
                    newest[emap.entity.name] = (drop / item["name"], billing._format(item))
    for name, (path, fmt) in newest.items():
        emap = source.entities[name]
        _columns(source.file, emap, _header(path, fmt, emap), f"the file {path.name}")


LIVE = {"sales": check_sales, "billing": check_billing}


def check(cfg: Settings, sources: list[str] | None = None) -> Mapping:
    """The mapping in force, read and checked; the sources the file lists (of ``sources``,
    default all) checked against the live systems."""
    mapping = model.load(cfg)
    for name in mapping.sources:
        if sources is None or name in sources:
            source = mapping.source(name)
            if name in LIVE:
                LIVE[name](cfg, source)
            else:
                source.url(cfg), source.token(cfg)  # the environment variables it names
    return mapping
