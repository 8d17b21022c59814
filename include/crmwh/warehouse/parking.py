"""``quarantine.parked``: rows whose parent has not arrived yet, waiting for it.

A row of a batch that passed the gate but references a key ``raw`` does not hold yet (an
early-arriving fact) waits here instead of in ``raw`` (:mod:`crmwh.quality.parking`). Each
later night it is released into ``raw`` once its parent landed, or quarantined when the
parent never came. ``payload`` is the row as it landed (entity columns and load metadata), so
it goes back to ``raw`` exactly as it was. One version (``row_hash``) of an entity's row is
parked once: re-reading it (a rerun, a look-back window) parks nothing twice.
"""

from __future__ import annotations

import psycopg

from crmwh.warehouse import ddl

DDL = (
    """create table if not exists quarantine.parked (
        id bigserial primary key,
        batch_id text not null,
        source text not null,
        entity text not null,
        source_ref text,
        reason text not null,
        row_hash bytea not null,
        payload jsonb not null,
        parked_on date not null,
        parked_at timestamptz not null default now(),
        settled_at timestamptz,
        settled_batch_id text,
        outcome text check (outcome in ('released', 'expired'))
    )""",
    "create unique index if not exists parked_version_uidx "
    "on quarantine.parked (source, entity, row_hash)",
    "create index if not exists parked_waiting_idx on quarantine.parked (source, entity) "
    "where settled_at is null",
)


def create_tables(conn: psycopg.Connection) -> None:
    """``quarantine.parked`` and its indexes."""
    for statement in DDL:
        ddl.execute(conn, statement)
