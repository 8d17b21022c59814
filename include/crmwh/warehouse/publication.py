"""Objects of write-audit-publish (:mod:`crmwh.publish`): the marker table inside the
published marts and the log of publications ``audit.mart_publications``."""

from __future__ import annotations

from typing import Any

from psycopg import sql

MARKER = "wap_published"

PUBLICATIONS_DDL = """
create table if not exists audit.mart_publications (
  id bigserial primary key,
  run_id text not null,
  as_of_date date not null,
  published_at timestamptz not null default now(),
  relations text[] not null,
  row_counts jsonb not null
)"""


def create_marker(conn: Any, schema: str) -> sql.Identifier:
    """Create the (empty) marker table ``<schema>.wap_published``; returns its name."""
    marker = sql.Identifier(schema, MARKER)
    conn.execute(sql.SQL(
        "create table {} (as_of_date date not null, run_id text not null, "
        "published_at timestamptz not null, relations text[] not null)").format(marker))
    conn.execute(sql.SQL("comment on table {} is {}").format(marker, sql.Literal(
        "Which as-of date the marts reflect: written by crmwh.publish when the schema "
        "is swapped in.")))
    return marker


def ensure_publications_log(conn: Any) -> None:
    """``audit.mart_publications``, one row per publication."""
    conn.execute(PUBLICATIONS_DDL)
