"""End to end under Airflow's real scheduler: ``crmwh scheduler start`` on the test home
(api-server, dag-processor, triggerer and scheduler; LocalExecutor; metadata in database
``airflow`` of the test server), ``crmwh run --date D --scheduler`` (``airflow dags trigger``,
then waiting for the run's end), ``crmwh scheduler stop`` - all through the real command line.

One night of the suite's demo data lands in a warehouse database of its own, so the other
modules find the test warehouse as they left it. The run must succeed with the extracts
running side by side (what ``airflow dags test`` never does), publish the marts, and leave
no process behind.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from crmwh import airflow_env, airflow_metadata, database, scheduler
from crmwh.warehouse import ensure_schemas
from crmwh_devkit.bench.nightly_probe import most_at_once, task_records
from tests.support.cli import CRMWH
from tests.support.demo import LAST_DAY
from tests.support.ports import free_port

DAY = LAST_DAY - timedelta(days=2)
WAREHOUSE_DB = "crm_scheduler_e2e"


def cli(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CRMWH, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def groups() -> dict[int, list[str]]:
    """Every live process's command line by process group (``ps``)."""
    out: dict[int, list[str]] = {}
    listing = subprocess.run(["ps", "-eo", "pgid=,args="], capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        pgid, _, args = line.strip().partition(" ")
        out.setdefault(int(pgid), []).append(args)
    return out


@pytest.fixture(scope="module")
def night(cfg, generated, service_up) -> Iterator[dict]:
    """Start the scheduler, run one night in it, stop it; what the run left."""
    admin = database.with_database(cfg.admin_dsn, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {WAREHOUSE_DB} with (force)")
        conn.execute(f"create database {WAREHOUSE_DB}")
    dsn = database.with_database(cfg.admin_dsn, WAREHOUSE_DB)
    with database.connect(dsn, autocommit=True) as conn:
        ensure_schemas(conn)
    env = {"CRM_WAREHOUSE_DSN": dsn, "CRM_NIGHTLY_SCHEDULE": "none",
           "CRM_AIRFLOW_API_PORT": str(free_port())}
    pgids: list[int] = []
    try:
        started = cli(env, "scheduler", "start", timeout=400)
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        pgids = [pid for pid in scheduler.status(cfg).values() if pid]  # the same home
        assert len(pgids) == len(scheduler.COMPONENTS), started.stdout
        ran = cli(env, "run", "--date", DAY.isoformat(), "--scheduler", timeout=900)
    finally:
        stopped = cli(env, "scheduler", "stop", timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    yield {"dsn": dsn, "ran": ran, "pgids": pgids, "left": groups()}
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {WAREHOUSE_DB} with (force)")


def the_run(cfg) -> tuple[str, dict, list[tuple]]:
    """The one run of crm_nightly in the metadata database: id, run, task instances."""
    dsn = cfg.airflow_db_dsn
    run_ids = [r for r in airflow_metadata.run_ids(dsn, airflow_env.DAG_ID)
               if r.startswith(f"crmwh__{DAY}__")]
    assert run_ids, "no run was triggered"
    run_id = max(run_ids)
    return (run_id, airflow_metadata.run(dsn, airflow_env.DAG_ID, run_id),
            airflow_metadata.task_instances(dsn, airflow_env.DAG_ID, run_id))


def test_a_triggered_night_succeeds_with_the_sources_side_by_side(cfg, night):
    ran = night["ran"]
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert f"{DAY}: crm_nightly succeeded" in ran.stdout
    run_id, run, tasks = the_run(cfg)
    assert run["state"] == "success" and run["run_type"] == "manual", run
    assert run["logical_date"].startswith(DAY.isoformat())
    states = {t[0]: t[2] for t in tasks}
    assert set(states.values()) <= {"success", "skipped"}, states
    # the three extracts (and then their gates) ran in separate worker processes at once
    landing = [t for t in task_records(tasks) if t["task_id"].startswith(("extract_", "gate_"))]
    assert len(landing) == 6
    assert most_at_once(landing) >= 3, landing


def test_the_night_published_the_marts_as_of_its_date(cfg, night):
    run_id, _, _ = the_run(cfg)
    with database.connect(night["dsn"], autocommit=True) as conn:
        published = conn.execute("select as_of_date, run_id from marts.wap_published"
                                 ).fetchall()
        summary = conn.execute("select status from audit.run_summary where as_of_date = %s",
                               (DAY,)).fetchall()
        customers = conn.execute("select count(*) from marts.mart_customer_value").fetchone()[0]
    assert published == [(DAY, run_id)]
    assert summary == [("success",)]
    assert customers > 0


def test_stop_leaves_no_process_behind(night):
    assert night["pgids"]
    left = {g: args for g, args in night["left"].items() if g in night["pgids"]}
    assert left == {}, left
