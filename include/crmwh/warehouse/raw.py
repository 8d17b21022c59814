"""The landing tables in schema ``raw``, one per source entity, built from its contract."""

from __future__ import annotations

import psycopg

from crmwh.source_entities import ENTITIES, META_COLUMNS, PG_TYPES, Entity
from crmwh.warehouse import ddl


def table_ddl(entity: Entity) -> str:
    """``create table if not exists`` for the raw table of ``entity``."""
    cols = [f'"{c.name}" {PG_TYPES[c.type]}' for c in entity.columns]
    cols += [f'"{name}" {type_}' for name, type_ in META_COLUMNS]
    return f"create table if not exists {entity.qualified} (\n  " + ",\n  ".join(cols) + "\n)"


def create_tables(conn: psycopg.Connection) -> None:
    """Every raw table with its indexes (each statement in the caller's transaction, or in
    its own when the connection autocommits)."""
    for entity in ENTITIES:
        conn.execute(table_ddl(entity))
        # batches are appended in one piece: a BRIN index finds one cheaply
        ddl.execute(conn, f"create index if not exists {entity.table}_batch_idx "
                          f"on {entity.qualified} using brin (_batch_id)")
        # an identical row version lands once (look-back re-reads, reruns, re-deliveries)
        ddl.execute(conn, f"create unique index if not exists {entity.table}_row_hash_uidx "
                          f"on {entity.qualified} (_row_hash)")
