"""Making sure of the warehouse while another session lands: under the scheduler the three
extract tasks run side by side and each calls ``ensure_schemas`` first. On a warehouse that
has everything it must take no lock a landing transaction holds (it used to wait for them,
and deadlocked with one: DDL on raw, audit and quarantine tables in one transaction)."""

from __future__ import annotations

import threading

import pytest

from crmwh import database
from crmwh.warehouse import ddl, ensure_schemas
from tests.support.databases import drop_database, fresh_database

NAME = "crm_schema_locks"


@pytest.fixture(scope="module")
def dsn(cfg):
    yield fresh_database(cfg, NAME)
    drop_database(cfg, NAME)


def test_ensure_schemas_waits_for_no_landing(dsn):
    with database.connect(dsn) as landing:  # a landing's open transaction, as it holds them
        for table in ("raw.billing__invoices", "quarantine.rows", "quarantine.parked",
                      "audit.load_batches", "audit.dq_results", "audit.run_summary"):
            landing.execute(f"lock table {table} in row exclusive mode")
        with database.connect(dsn, autocommit=True) as other:
            other.execute("set lock_timeout = '3s'")
            ensure_schemas(other)  # LockNotAvailable when it locks any of those tables
        landing.rollback()


def test_a_missing_index_or_column_is_still_made(dsn):
    with database.connect(dsn, autocommit=True) as conn:
        conn.execute("drop index quarantine.rows_batch_idx")
        conn.execute("alter table audit.load_batches drop column rows_parked")
        assert ddl.needed(conn, "create index if not exists rows_batch_idx on quarantine.rows "
                                "(batch_id)")
        ensure_schemas(conn)
        assert conn.execute("select to_regclass('quarantine.rows_batch_idx') is not null"
                            ).fetchone()[0]
        assert conn.execute("select rows_parked from audit.load_batches limit 0").description
        assert not ddl.needed(conn, "CREATE UNIQUE INDEX IF NOT EXISTS rows_batch_idx "
                                    "ON quarantine.rows (batch_id)")
        assert not ddl.needed(conn, "alter table audit.load_batches add column if not exists "
                                    "rows_parked bigint")
        assert ddl.needed(conn, "create table if not exists audit.load_batches (x int)")


def test_concurrent_callers_take_turns(dsn):
    """Three sessions making sure at once of a warehouse missing an index: they take turns
    on the advisory lock, so one makes it and none fails on a duplicate."""
    with database.connect(dsn, autocommit=True) as conn:
        conn.execute("drop index raw.billing__payments_batch_idx")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            with database.connect(dsn, autocommit=True) as conn:
                ensure_schemas(conn)
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with database.connect(dsn, autocommit=True) as conn:
        assert conn.execute("select to_regclass('raw.billing__payments_batch_idx') is not null"
                            ).fetchone()[0]
