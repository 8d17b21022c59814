"""History kept: a failed run leaves its summary, a rerun of its date (same run id) replaces
the run's row in ``audit.run_summary`` but never its history, and ``crmwh run`` keeps the
date's earlier log beside the new one."""

from __future__ import annotations

import os
from datetime import date

import psycopg
import pytest

from crmwh import pipeline
from crmwh.cli.run import keep_log
from crmwh.errors import CrmwhError
from crmwh.warehouse import ensure_schemas, publication
from tests.support.databases import drop_database, fresh_database

DAY = date(2026, 3, 30)


@pytest.fixture()
def dsn(cfg, monkeypatch):
    dsn = fresh_database(cfg, "crm_history")
    monkeypatch.setenv("CRM_WAREHOUSE_DSN", dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_schemas(conn)
        conn.execute(
            """insert into audit.load_batches (batch_id, run_id, source, entity, as_of_date,
                   status, rows_extracted, rows_loaded)
               values ('b1', 'manual__2026-03-30', 'sales', 'orders', %s, 'loaded', 7, 7)""",
            (DAY,))
    yield dsn
    drop_database(cfg, "crm_history")


def test_a_failed_run_keeps_its_summary_and_a_rerun_adds_to_the_history(dsn):
    run = "manual__2026-03-30"
    with psycopg.connect(dsn, autocommit=True) as c:  # what the readers have: one mart
        c.execute("create table marts.mart_a as select 1 as v")
        publication.create_marker(c, "marts")
        c.execute("insert into marts.wap_published values ('2026-03-29', 'r0', now(), "
                  "array['mart_a'])")
    error = CrmwhError("quality gate failed for raw.sales__orders batch b1: volume", "fix it")
    failed = pipeline.record_failed_run(DAY, run, "gate_sales", error)
    assert failed["status"] == "failed" and failed["rows_loaded"] == 7
    assert failed["mart_rows"] == {"marts.mart_a": 1}
    # the rerun of the date (Airflow reuses the run id) fails elsewhere
    pipeline.record_failed_run(DAY, run, "publish_marts", RuntimeError("lock wait"))
    with psycopg.connect(dsn) as c:
        latest = c.execute("select status, details->>'failed_task' from audit.run_summary "
                           "where run_id = %s", (run,)).fetchall()
        history = c.execute("select status, failed_task, error from audit.run_history "
                            "where run_id = %s order by id", (run,)).fetchall()
    assert latest == [("failed", "publish_marts")]
    assert history == [("failed", "gate_sales", str(error)),
                       ("failed", "publish_marts", "lock wait")]


def test_crmwh_run_keeps_the_earlier_log_of_a_date(tmp_path):
    log = tmp_path / "crm_nightly_2026-03-30.log"
    assert keep_log(log) is None
    log.write_text("the failed run\n")
    os.utime(log, (1_774_000_000, 1_774_000_000))
    kept = keep_log(log)
    assert kept is not None and not log.exists()
    assert kept.name == "crm_nightly_2026-03-30.20260320T094640000000Z.log"
    assert kept.read_text() == "the failed run\n"
