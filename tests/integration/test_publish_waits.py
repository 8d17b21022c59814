"""The publish swap never waits forever: a reader idle in a transaction on the marts (its own
timeouts lifted) is ended after a lock timeout's grace and the swap goes through; a session
the publish may not end makes it refuse, naming it. Readers' sessions carry an idle timeout."""

from __future__ import annotations

import time
from datetime import date

import psycopg
import pytest

from crmwh import database, publish
from crmwh.warehouse import roles
from tests.support.databases import drop_database, fresh_database

MODELS = [publish.MartModel("mart_a", "mart_a", "table")]
READER = "crm_t_idle_reader"


@pytest.fixture()
def dsn(cfg):
    dsn = fresh_database(cfg, "crm_publish_waits")
    with database.connect(dsn, autocommit=True) as c:
        c.execute(f"drop role if exists {READER}")
        c.execute(f"create role {READER} login password 'idle-reader-pw'")
    yield dsn
    with database.connect(dsn, autocommit=True) as c:
        c.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                  "where usename = %s", (READER,))
    drop_database(cfg, "crm_publish_waits")
    with database.connect(cfg.admin_dsn, autocommit=True) as c:
        c.execute(f"drop role if exists {READER}")


def _night(conn, day: date, lock_timeout_s: float = 0.5) -> publish.Publication:
    publish.prepare(conn, MODELS, day)
    conn.execute(f"create table {publish.CANDIDATE}.mart_a as select %s::date as day", (day,))
    return publish.publish(conn, day, f"run-{day}", MODELS, lock_timeout_s=lock_timeout_s)


def test_a_reader_idle_in_a_transaction_never_holds_the_publish(dsn):
    with database.connect(dsn, autocommit=True) as conn:
        _night(conn, date(2026, 3, 29))
        conn.execute(f"grant usage on schema marts to {READER}")
        conn.execute(f"grant select on marts.mart_a to {READER}")
        reader = psycopg.connect(psycopg.conninfo.make_conninfo(
            dsn, user=READER, password="idle-reader-pw"))
        reader.execute("set statement_timeout = 0")  # a reader lifts its own limits
        reader.execute("set idle_in_transaction_session_timeout = 0")
        reader.execute("select * from marts.mart_a").fetchall()  # and stays in the transaction
        _night(conn, date(2026, 3, 30))  # marts -> marts__previous: no conflict yet
        started = time.monotonic()
        done = _night(conn, date(2026, 3, 31))  # drops marts__previous, which the reader holds
        waited = time.monotonic() - started
        assert done.as_of_date == date(2026, 3, 31) and publish.published_as_of(conn) == \
            date(2026, 3, 31)
        assert waited < 5  # two lock timeouts of 0.5 s and their pauses, not forever
        with pytest.raises(psycopg.OperationalError):
            reader.execute("select 1")
        reader.close()


def test_a_session_the_publish_may_not_end_makes_it_refuse_naming_it(dsn):
    with database.connect(dsn, autocommit=True) as conn, \
            database.connect(dsn) as admin:
        _night(conn, date(2026, 3, 29))
        _night(conn, date(2026, 3, 30))
        admin.execute("select count(*) from marts__previous.mart_a").fetchone()
        pid = admin.info.backend_pid
        with pytest.raises(publish.PublishRefused) as refused:
            _night(conn, date(2026, 3, 31), lock_timeout_s=0.3)
        assert f"pid {pid} (" in str(refused.value) and "after 3 tries of 0.3 s" in str(
            refused.value)
        admin.rollback()
        assert publish.published_as_of(conn) == date(2026, 3, 30)  # the last good marts


def test_reader_roles_carry_an_idle_in_transaction_timeout(dsn, cfg):
    with database.connect(dsn, autocommit=True) as conn:
        roles.ensure_roles(conn, cfg.secrets)
        settings = dict(conn.execute(
            """select r.rolname, s.setconfig from pg_db_role_setting s
               join pg_roles r on r.oid = s.setrole where r.rolname = any(%s)""",
            ([roles.BI_READER, roles.ANALYST],)).fetchall())
    for role in (roles.BI_READER, roles.ANALYST):
        assert f"idle_in_transaction_session_timeout={roles.READER_IDLE_TIMEOUT}" in \
            settings[role], settings
        assert f"statement_timeout={roles.READER_STATEMENT_TIMEOUT}" in settings[role]
