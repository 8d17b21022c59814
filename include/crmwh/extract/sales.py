"""Sales: incremental by ``updated_at`` watermark with a look-back window.

Rows committed late (an ``updated_at`` a little before the last watermark) are
caught by re-reading the look-back window; rows already landed unchanged are
recognised by their hash and not landed again.

Rows stream from the source's ``COPY TO`` straight into the warehouse, without
passing through Python objects. When every source column's type already
guarantees its declared type (the usual case: the OLTP schema is typed), the
source query casts to the declared types and computes the row hash, and the
rows travel as binary COPY: the warehouse has nothing left to parse. Otherwise
they travel as text and the loader checks every value. Columns the entity
does not declare yet are folded into ``_extra`` by the source query itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta

import psycopg

from crmwh.as_of import end_of
from crmwh.errors import CrmwhError
from crmwh.extract.base import Extraction
from crmwh.mapping import model, times
from crmwh.mapping.model import ColumnMap, EntityMap, default_entity
from crmwh.pgcopy import pipe, quote_ident, quote_literal
from crmwh.settings import Settings
from crmwh.source_entities import META_COLUMNS, PG_TYPES, Entity, row_hash_sql

# source column types that can only hold values the declared type accepts
SAFE_TYPES = {
    "int": {"bigint", "integer", "smallint"},
    "numeric": {"integer", "smallint"},
    "bool": {"boolean"},
    "date": {"date"},
    "timestamptz": {"timestamp with time zone"},
}
NUMERIC_DIGITS = 14  # integer digits numeric(18,4) holds
FORMAT_TYPES = {"timestamptz": "timestamp with time zone"}  # as format_type() names them


def _connect(dsn: str) -> psycopg.Connection:
    try:
        conn = psycopg.connect(dsn, connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as exc:
        raise CrmwhError(
            f"cannot reach the sales database: {str(exc).strip().splitlines()[-1]}",
            "check CRM_SALES_DSN or run `crmwh generate` for the simulator",
        ) from None
    # the same output settings as the warehouse's landing: the row hash is over this text
    conn.execute("set timezone = 'UTC'")
    conn.execute("set datestyle = 'ISO, MDY'")
    return conn


def _fits(declared: str, source_type: str) -> bool:
    """Whether every value of a source column (``format_type``) is valid in the declared type."""
    if declared == "text":
        return True
    digits = re.fullmatch(r"numeric\((\d+),(\d+)\)", source_type)
    if declared == "numeric" and digits:
        return int(digits[1]) - int(digits[2]) <= NUMERIC_DIGITS
    return source_type in SAFE_TYPES.get(declared, ())


def qualified(table: str) -> str:
    """A mapped ``[schema.]table`` name, quoted."""
    return ".".join(quote_ident(part) for part in table.split("."))


def _in_sql(name: str, m: ColumnMap) -> bool:
    """Whether the mapping's SQL expression names the source column ``name``."""
    return m.sql is not None and re.search(rf"\b{re.escape(name)}\b", m.sql) is not None


class _Source:
    """One sales table, as its mapping reads it: each contract column's SQL expression over
    the source table ``t``, and the queries on it."""

    def __init__(self, conn: psycopg.Connection, emap: EntityMap, lower: datetime | None,
                 until: datetime) -> None:
        entity, self.table = emap.entity, qualified(emap.where)
        rows = conn.execute(
            "select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "exists (select 1 from pg_index i where i.indrelid = a.attrelid and i.indisprimary) "
            "from pg_attribute a where a.attrelid = to_regclass(%s) "
            "and a.attnum > 0 and not a.attisdropped", (self.table,)).fetchall()
        if not rows:
            raise CrmwhError(
                f"the sales database has no table {emap.where!r}",
                "point CRM_SALES_DSN at the sales system or run `crmwh generate`",
            )
        types = {name: type_ for name, type_, _, _ in rows}
        missing = [c.name for c in entity.columns
                   if c.required and emap.columns[c.name].column not in (None, *types)]
        if missing:
            raise CrmwhError(
                f"the sales table {emap.where} lacks required column(s) {', '.join(missing)}",
                "the source's schema changed: update include/crmwh/source_entities.py "
                "or fix the source",
            )
        self.entity, self.emap, self.types = entity, emap, types
        self.exprs, source_types = self._expressions(conn)
        self.source_types = source_types
        # values converted on their way (read in a format or time zone), by column
        self.python = {c.name: emap.columns[c.name] for c in entity.columns
                       if c.name in self.exprs
                       and source_types[c.name].startswith(("text", "character"))
                       and (emap.columns[c.name].format or emap.columns[c.name].timezone)}
        self.fits = not self.python and all(
            _fits(c.type, source_types[c.name]) for c in entity.columns if c.name in self.exprs)
        self.distinct = rows[0][3] and not any(m.sql for m in emap.columns.values())
        # typed values a NOT NULL column cannot miss (text can: empty text is NULL)
        not_null = {name for name, _, flag, _ in rows if flag}
        self.non_null = frozenset(
            c.name for c in entity.columns if c.type != "text" and c.name in self.exprs
            and emap.columns[c.name].column in not_null and not emap.columns[c.name].converts)
        updated = self.exprs["updated_at"]
        where = f"{updated} < %(until)s" + (f" and {updated} >= %(lower)s" if lower else "")
        with psycopg.ClientCursor(conn) as cur:
            self.where = cur.mogrify(where, {"until": until, "lower": lower})
            self.ref = cur.mogrify("%s::text", (f"sales:{entity.name}",))

    def _expressions(self, conn: psycopg.Connection) -> tuple[dict[str, str], dict[str, str]]:
        """Each contract column's SQL over ``t`` and its source type (absent: no such column)."""
        exprs, types, asked = {}, {}, []
        for c in self.entity.columns:
            m = self.emap.columns[c.name]
            if m.sql is not None:
                exprs[c.name] = f"({m.sql})"
                asked.append(c.name)
            elif m.value is not None:
                exprs[c.name] = f"{quote_literal(m.value)}::{PG_TYPES[c.type]}"
                types[c.name] = FORMAT_TYPES.get(c.type, PG_TYPES[c.type])
            elif m.column in self.types:
                exprs[c.name], types[c.name] = f"t.{quote_ident(m.column)}", self.types[m.column]
                if m.timezone and types[c.name] == "timestamp without time zone":
                    exprs[c.name] = f"({exprs[c.name]} at time zone {quote_literal(m.timezone)})"
                    types[c.name] = "timestamp with time zone"
            if c.name in exprs and m.default is not None:
                if _fits(c.type, types[c.name]):
                    exprs[c.name] = (f"coalesce({exprs[c.name]}, "
                                     f"{quote_literal(m.default)}::{PG_TYPES[c.type]})")
                else:
                    exprs[c.name] = (f"coalesce(nullif({exprs[c.name]}::text, ''), "
                                     f"{quote_literal(m.default)})")
                    types[c.name] = "text"
        if asked:
            cur = conn.execute(f"select {', '.join(exprs[n] for n in asked)} "
                               f"from {self.table} t limit 0")
            oids = [d.type_code for d in cur.description]
            named = dict(conn.execute("select o, format_type(o, null) from unnest(%s::oid[]) o",
                                      (oids,)).fetchall())
            types.update({n: named[o] for n, o in zip(asked, oids, strict=True)})
        return exprs, types

    def _extra(self) -> str:
        """The source columns no contract column reads, as jsonb (NULL when none)."""
        used = self.emap.used
        unknown = [c for c in self.types if c not in used
                   and not any(_in_sql(c, m) for m in self.emap.columns.values())]
        if not unknown:
            return "null::jsonb"
        pairs = ", ".join(f"{quote_literal(c)}, t.{quote_ident(c)}" for c in sorted(unknown))
        return f"jsonb_build_object({pairs})"

    def _value(self, name: str, type_: str) -> str:
        if name not in self.exprs:
            return f"null::{PG_TYPES[type_]}"
        if type_ == "text":
            return f"nullif({self.exprs[name]}::text, '')"
        return f"{self.exprs[name]}::{PG_TYPES[type_]}"

    def text_query(self) -> str:
        picked = ", ".join(self.exprs.get(c, "null::text") for c in self.entity.column_names)
        return (f"select {picked}, {self._extra()}, {self.ref} "
                f"from {self.table} t where {self.where}")

    def typed_query(self, constants: dict[str, str]) -> str:
        """Columns in their declared types, ``_extra``, ``_source_ref``, ``_row_hash`` and the
        given constant columns (name: SQL literal), in one flat select: recomputing
        the few casts inside the hash is cheaper than a nested scan."""
        values = [self._value(c.name, c.type) for c in self.entity.columns]
        extra = self._extra()
        picked = [f"{v} as {quote_ident(c)}"
                  for v, c in zip(values, self.entity.column_names, strict=True)]
        picked += [f"{extra} as _extra", f"{self.ref} as _source_ref",
                   f"{row_hash_sql(values, extra)} as _row_hash"]
        picked += [f"{value} as {quote_ident(name)}" for name, value in constants.items()]
        return f"select {', '.join(picked)} from {self.table} t where {self.where}"

    def newest(self, conn: psycopg.Connection) -> datetime | None:
        return conn.execute(f"select max({self.exprs['updated_at']}) from {self.table} t "
                            f"where {self.where}").fetchone()[0]

    def copy_converted(self, src: psycopg.Connection, cur: psycopg.Cursor, table: str,
                       columns: list[str]) -> int:
        """The text rows through Python, their dates and timestamps read in their format
        and zone on the way."""
        convert = {self.entity.column_names.index(c.name): (c.type, m.format,
                                                        times.zone(m.timezone or "UTC"))
                   for c in self.entity.columns if (m := self.python.get(c.name))}
        rows = 0
        with src.cursor().copy(f"copy ({self.text_query()}) to stdout") as out, \
                cur.copy(f"copy {table} ({', '.join(map(quote_ident, columns))}) "
                         "from stdin") as into:
            for row in out.rows():
                row = list(row)
                for i, (type_, fmt, tz) in convert.items():
                    if row[i] is not None:
                        row[i] = times.to_iso(row[i], type_, fmt, tz)
                into.write_row(row)
                rows += 1
        return rows


def table_rows(dsn: str, names: list[str]) -> dict[str, int]:
    """The planner's row count of each sales table (``reltuples``; none before the
    source has analysed it): a cheap guess at how big a first load is."""
    with _connect(dsn) as conn:
        return {name: int(rows) for name, rows in conn.execute(
            "select u.n, c.reltuples from unnest(%s::text[], %s::text[]) u (n, q) "
            "join pg_class c on c.oid = to_regclass(u.q) where c.reltuples >= 0",
            (names, [qualified(n) for n in names]))}


def extract(dsn: str, entity: Entity, watermark: str | None, until: datetime,
            lookback: timedelta, emap: EntityMap | None = None) -> Extraction:
    """Rows of ``entity`` (read as its mapping says) with ``updated_at`` in
    [watermark - lookback, until)."""
    lower = datetime.fromisoformat(watermark) - lookback if watermark else None
    with _connect(dsn) as conn:
        source = _Source(conn, emap or default_entity(entity), lower, until)
        # the watermark is read before the rows: a row committed meanwhile is re-read next
        # time (and recognised as unchanged), never skipped
        newest = source.newest(conn)
    after = watermark
    if newest is not None and (after is None or newest > datetime.fromisoformat(after)):
        after = newest.isoformat()

    def copy_text(cur: psycopg.Cursor, table: str, columns: list[str]) -> int:
        with _connect(dsn) as src:
            if source.python:
                return source.copy_converted(src, cur, table, columns)
            return pipe(src, f"copy ({source.text_query()}) to stdout", cur,
                        f"copy {table} ({', '.join(map(quote_ident, columns))}) from stdin")

    def copy_typed(cur: psycopg.Cursor, table: str, columns: list[str],
                   constants: Mapping[str, object]) -> int:
        types = dict(META_COLUMNS)
        with _connect(dsn) as src, psycopg.ClientCursor(src) as ccur:
            literals = {name: ccur.mogrify(f"%s::{types[name]}", (value,))
                        for name, value in constants.items()}
            query = (f"select {', '.join(map(quote_ident, columns))} "
                     f"from ({source.typed_query(literals)}) h")
            return pipe(src, f"copy ({query}) to stdout (format binary)", cur,
                        f"copy {table} ({', '.join(map(quote_ident, columns))}) "
                        "from stdin (format binary)")

    return Extraction(text=None if source.fits else copy_text,
                      typed=copy_typed if source.fits else None,
                      distinct_rows=source.distinct, non_null=source.non_null,
                      watermark_after=after,
                      source_ref=f"sales:{entity.name}")


def extract_for(cfg: Settings, conn: psycopg.Connection, entity: Entity, as_of_date: date,
                watermark: str | None) -> Extraction:
    """The pipeline's extraction: rows changed up to the end of the as-of date."""
    source = model.load(cfg).source("sales")
    return extract(source.dsn(cfg), entity, watermark, end_of(as_of_date),
                   timedelta(minutes=cfg.sales_lookback_minutes), source.entities[entity.name])


def pending_rows_for(cfg: Settings, conn: psycopg.Connection, entities: list[Entity],
                     as_of_date: date) -> dict[str, int]:
    """A guess at the rows of each entity's next batch: the planner's table sizes."""
    source = model.load(cfg).source("sales")
    sizes = table_rows(source.dsn(cfg), [source.entities[e.name].where for e in entities])
    return {e.name: sizes[source.entities[e.name].where] for e in entities
            if source.entities[e.name].where in sizes}
