"""When publish refuses, on a real private database and without dbt: a blocking
failure of the run, a mart missing from the staging schema, no staging schema at all. And a
gate failure on a batch that was rejected (its rows never reached dbt) does not block."""

from __future__ import annotations

from datetime import date

import pytest

from crmwh import database, publish
from tests.support.databases import drop_database, fresh_database

MODELS = [publish.MartModel("mart_a", "mart_a", "table"),
          publish.MartModel("mart_h", "mart_h", "incremental")]
DAY = date(2026, 3, 1)
CANDIDATE, PREVIOUS = publish.CANDIDATE, publish.PREVIOUS  # the schemas beside the published marts


@pytest.fixture()
def conn(cfg):
    dsn = fresh_database(cfg, "crm_wap_refusal")
    with database.connect(dsn, autocommit=True) as c:
        c.execute("create table marts.mart_a as select 1 as v")
        c.execute("create table marts.mart_h as select date '2026-02-28' as as_of_date, 1 as v")
        yield c
    drop_database(cfg, "crm_wap_refusal")


def dq(conn, run_id: str, check: str, status: str, batch: str | None = None,
       severity: str = "blocking") -> None:
    conn.execute("""insert into audit.dq_results (run_id, batch_id, check_name, object_name,
                        severity, status, observed) values (%s, %s, %s, 'o', %s, %s, 'seen')""",
                 (run_id, batch, check, severity, status))


def build_staging(conn) -> None:
    copied = publish.prepare(conn, MODELS, DAY)
    assert copied == ["mart_h"]  # only the incremental mart starts from the published one
    assert conn.execute(f"select count(*) from {CANDIDATE}.mart_h").fetchone()[0] == 1
    conn.execute(f"create table {CANDIDATE}.mart_a as select 2 as v")
    conn.execute(f"insert into {CANDIDATE}.mart_h values (date '2026-03-01', 2)")


def test_refusals_leave_marts_untouched(conn):
    with pytest.raises(publish.PublishRefused, match=f"no {CANDIDATE} schema"):
        publish.publish(conn, DAY, "r1", MODELS)
    publish.prepare(conn, MODELS, DAY)
    with pytest.raises(publish.PublishRefused, match=f"not built in {CANDIDATE}: mart_a"):
        publish.publish(conn, DAY, "r1", MODELS)
    build_staging(conn)
    dq(conn, "r1", "dbt:unique_mart_a", "fail")
    dq(conn, "r1", "dbt:warn_only", "fail", severity="warning")
    with pytest.raises(publish.PublishRefused, match=r"1 blocking check\(s\) failed: "
                                                     r"dbt:unique_mart_a on o: seen"):
        publish.publish(conn, DAY, "r1", MODELS)
    assert conn.execute("select v from marts.mart_a").fetchone()[0] == 1
    assert conn.execute("select count(*) from marts.mart_h").fetchone()[0] == 1
    assert publish.published_as_of(conn) is None


def test_latest_result_counts_and_rejected_batches_do_not_block(conn):
    build_staging(conn)
    dq(conn, "r2", "dbt:unique_mart_a", "fail")
    dq(conn, "r2", "dbt:unique_mart_a", "pass")  # the task was retried after a fix
    conn.execute("""insert into audit.load_batches (batch_id, source, entity, status)
                    values ('b-rejected', 'sales', 'orders', 'rejected')""")
    dq(conn, "r2", "expect_column_values_to_be_unique(order_id)", "fail", batch="b-rejected")
    done = publish.publish(conn, DAY, "r2", MODELS)
    assert done.row_counts == {"mart_a": 1, "mart_h": 2}
    assert conn.execute("select v from marts.mart_a").fetchone()[0] == 2
    assert publish.published_as_of(conn) == DAY
    assert conn.execute(f"select count(*) from {PREVIOUS}.mart_a").fetchone()[0] == 1
