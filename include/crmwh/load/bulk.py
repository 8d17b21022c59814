"""A first load into an empty raw table: indexes dropped while it fills, built at the end."""

from __future__ import annotations

import psycopg

from crmwh.load.quarantine import quarantine_copies
from crmwh.source_entities import Entity


def take_indexes(cur: psycopg.Cursor, entity: Entity) -> list[tuple[str, str]] | None:
    """For a first load into an empty table: lock it, drop its indexes, return them."""
    empty = f"select not exists (select 1 from {entity.qualified})"
    if not cur.execute(empty).fetchone()[0]:
        return None
    cur.execute(f"lock table {entity.qualified} in access exclusive mode")
    if not cur.execute(empty).fetchone()[0]:
        return None
    indexes = cur.execute("""
        select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) from pg_index i
        where i.indrelid = %s::regclass
          and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)""",
                          (entity.qualified,)).fetchall()
    for name, _ in indexes:
        cur.execute(f"drop index {name}")
    return indexes


def restore_indexes(cur: psycopg.Cursor, entity: Entity, meta: dict,
                    indexes: list[tuple[str, str]], distinct: bool) -> int:
    """Build the dropped indexes again; return the second copies moved to quarantine.

    A source that guarantees distinct rows skips the search for copies, and if
    the unique index finds one after all, the search runs and the build again.
    """
    copies = 0 if distinct else quarantine_copies(cur, entity, meta)
    try:
        with cur.connection.transaction():
            for _, ddl in indexes:
                cur.execute(ddl)
    except psycopg.errors.UniqueViolation:
        copies += quarantine_copies(cur, entity, meta)
        for _, ddl in indexes:
            cur.execute(ddl)
    return copies
