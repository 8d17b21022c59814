"""``quarantine.rows``: rows the landing or the quality gate set aside, one per row."""

from __future__ import annotations

import psycopg

from crmwh.warehouse import ddl

DDL = (
    """create table if not exists quarantine.rows (
        id bigserial primary key,
        batch_id text not null,
        source text not null,
        entity text not null,
        source_ref text,
        reason text not null,
        payload jsonb not null,
        quarantined_at timestamptz not null default now(),
        released_at timestamptz
    )""",
    "create index if not exists rows_batch_idx on quarantine.rows (batch_id)",
)
# the batch the rows were re-landed as (a release, crmwh.quality.release) or delivered again
# in (a rejected batch's rows, re-read by the next run's batch)
RELEASED_BATCH_DDL = "alter table quarantine.rows add column if not exists released_batch_id text"


def create_tables(conn: psycopg.Connection) -> None:
    """``quarantine.rows``, its index and its release column."""
    for statement in (*DDL, RELEASED_BATCH_DDL):
        ddl.execute(conn, statement)


def ensure_release_column(conn: psycopg.Connection) -> None:
    """``quarantine.rows.released_batch_id``, which releasing rows needs."""
    ddl.execute(conn, RELEASED_BATCH_DDL)
