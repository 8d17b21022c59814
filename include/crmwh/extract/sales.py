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


class _Source:
    """One sales table: its columns as the entity declares them, and the queries on it."""

    def __init__(self, conn: psycopg.Connection, entity: Entity, lower: datetime | None,
                 until: datetime) -> None:
        rows = conn.execute(
            "select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "exists (select 1 from pg_index i where i.indrelid = a.attrelid and i.indisprimary) "
            "from pg_attribute a where a.attrelid = to_regclass(%s) "
            "and a.attnum > 0 and not a.attisdropped", (quote_ident(entity.name),)).fetchall()
        if not rows:
            raise CrmwhError(
                f"the sales database has no table {entity.name!r}",
                "point CRM_SALES_DSN at the sales system or run `crmwh generate`",
            )
        types = {name: type_ for name, type_, _, _ in rows}
        missing = [c.name for c in entity.columns if c.required and c.name not in types]
        if missing:
            raise CrmwhError(
                f"the sales table {entity.name} lacks required column(s) {', '.join(missing)}",
                "the source's schema changed: update include/crmwh/source_entities.py "
                "or fix the source",
            )
        self.entity = entity
        self.types = types
        self.fits = all(_fits(c.type, types[c.name]) for c in entity.columns if c.name in types)
        self.distinct = rows[0][3]
        # typed values a NOT NULL column cannot miss (text can: empty text is NULL)
        not_null = {name for name, _, flag, _ in rows if flag}
        self.non_null = frozenset(c.name for c in entity.columns
                                  if c.type != "text" and c.name in not_null)
        where = "t.updated_at < %(until)s" + (" and t.updated_at >= %(lower)s" if lower else "")
        with psycopg.ClientCursor(conn) as cur:
            self.where = cur.mogrify(where, {"until": until, "lower": lower})
            self.ref = cur.mogrify("%s::text", (f"sales:{entity.name}",))

    def _extra(self) -> str:
        """The source columns the entity does not declare, as jsonb (NULL when none)."""
        unknown = [c for c in self.types if c not in self.entity.column_names]
        if not unknown:
            return "null::jsonb"
        pairs = ", ".join(f"{quote_literal(c)}, t.{quote_ident(c)}" for c in sorted(unknown))
        return f"jsonb_build_object({pairs})"

    def _value(self, name: str, type_: str) -> str:
        col = f"t.{quote_ident(name)}"
        if name not in self.types:
            return f"null::{PG_TYPES[type_]}"
        if type_ == "text":
            return f"nullif({col}::text, '')"
        return f"{col}::{PG_TYPES[type_]}"

    def text_query(self) -> str:
        picked = ", ".join(f"t.{quote_ident(c)}" if c in self.types else "null::text"
                           for c in self.entity.column_names)
        return (f"select {picked}, {self._extra()}, {self.ref} "
                f"from {quote_ident(self.entity.name)} t where {self.where}")

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
        return (f"select {', '.join(picked)} from {quote_ident(self.entity.name)} t "
                f"where {self.where}")

    def newest(self, conn: psycopg.Connection) -> datetime | None:
        return conn.execute(f"select max(t.updated_at) from {quote_ident(self.entity.name)} t "
                            f"where {self.where}").fetchone()[0]


def table_rows(dsn: str, names: list[str]) -> dict[str, int]:
    """The planner's row count of each sales table (``reltuples``; none before the
    source has analysed it): a cheap guess at how big a first load is."""
    with _connect(dsn) as conn:
        return {name: int(rows) for name, rows in conn.execute(
            "select n, c.reltuples from unnest(%s::text[]) n "
            "join pg_class c on c.oid = to_regclass(quote_ident(n)) where c.reltuples >= 0",
            (names,))}


def extract(dsn: str, entity: Entity, watermark: str | None, until: datetime,
            lookback: timedelta) -> Extraction:
    """Rows of ``entity`` with ``updated_at`` in [watermark - lookback, until)."""
    lower = datetime.fromisoformat(watermark) - lookback if watermark else None
    with _connect(dsn) as conn:
        source = _Source(conn, entity, lower, until)
        # the watermark is read before the rows: a row committed meanwhile is re-read next
        # time (and recognised as unchanged), never skipped
        newest = source.newest(conn)
    after = watermark
    if newest is not None and (after is None or newest > datetime.fromisoformat(after)):
        after = newest.isoformat()

    def copy_text(cur: psycopg.Cursor, table: str, columns: list[str]) -> int:
        with _connect(dsn) as src:
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
    return extract(cfg.sales_dsn, entity, watermark, end_of(as_of_date),
                   timedelta(minutes=cfg.sales_lookback_minutes))


def pending_rows_for(cfg: Settings, conn: psycopg.Connection, entities: list[Entity],
                     as_of_date: date) -> dict[str, int]:
    """A guess at the rows of each entity's next batch: the planner's table sizes."""
    return table_rows(cfg.sales_dsn, [e.name for e in entities])
