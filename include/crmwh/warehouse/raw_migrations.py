"""One-off migrations of the raw tables, each recorded so it runs once.

``row_hash_bytea`` (2026-11-23): the row hash changed from ``md5(row(...)::text)``
stored as 32 hex characters to two ``hash_record_extended`` values stored as 16
bytes (:func:`crmwh.source_entities.row_hash_sql`). Every row already landed is
rehashed in place, so a rerun of a landed date after the upgrade finds its rows
unchanged and lands nothing twice. Views reading a raw table (dbt's staging
views select ``*``) would block the type change: they are dropped and created
again from their own definitions in the same transaction.
"""

from __future__ import annotations

import psycopg

from crmwh import source_entities
from crmwh.pgcopy import quote_ident
from crmwh.source_entities import row_hash_sql

LEDGER = """create table if not exists audit.schema_migrations (
    name text primary key,
    applied_at timestamptz not null default now(),
    note text
)"""
ROW_HASH = "row_hash_bytea"


def _views_on(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    """Views depending (transitively) on ``table``, dependencies first: (name, definition)."""
    return conn.execute("""
        with recursive deps(oid, depth) as (
            select distinct r.ev_class, 1 from pg_depend d
            join pg_rewrite r on r.oid = d.objid
            where d.refobjid = %s::regclass and r.ev_class <> %s::regclass
            union
            select distinct r.ev_class, deps.depth + 1 from deps
            join pg_depend d on d.refobjid = deps.oid
            join pg_rewrite r on r.oid = d.objid
            where r.ev_class <> deps.oid)
        select c.oid::regclass::text, pg_get_viewdef(c.oid)
        from (select oid, max(depth) as depth from deps group by oid) v
        join pg_class c on c.oid = v.oid
        where c.relkind = 'v'
        order by v.depth""", (table, table)).fetchall()


def _rehash(conn: psycopg.Connection, entity: source_entities.Entity) -> bool:
    """Turn a text ``_row_hash`` into the new hash of the same row; False if already done."""
    type_ = conn.execute(
        "select format_type(atttypid, atttypmod) from pg_attribute "
        "where attrelid = %s::regclass and attname = '_row_hash'",
        (entity.qualified,)).fetchone()
    if type_ is None or type_[0] == "bytea":
        return False
    views = _views_on(conn, entity.qualified)
    for name, _ in reversed(views):
        conn.execute(f"drop view {name}")
    values = [quote_ident(c) for c in entity.column_names]
    conn.execute(f"alter table {entity.qualified} alter column _row_hash type bytea "
                 f"using {row_hash_sql(values, '_extra')}")
    for name, definition in views:
        conn.execute(f"create view {name} as {definition}")
    return True


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply the migrations not yet recorded (inside the caller's transaction)."""
    conn.execute(LEDGER)
    done = {n for (n,) in conn.execute("select name from audit.schema_migrations")}
    applied = []
    if ROW_HASH not in done:
        changed = [e.qualified for e in source_entities.ENTITIES if _rehash(conn, e)]
        conn.execute("insert into audit.schema_migrations (name, note) values (%s, %s)",
                      (ROW_HASH, f"rehashed {len(changed)} raw table(s)"))
        applied.append(ROW_HASH)
    return applied
