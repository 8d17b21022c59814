"""The nightly benchmark's recorder without a database: task times read from an Airflow-shaped
SQLite file, the /proc memory sampler on a real child process, and the record's summary."""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys

import pytest

from crmwh_devkit.bench import nightly
from crmwh_devkit.bench.nightly_args import executions, orchestrators
from crmwh_devkit.bench.nightly_probe import (
    PeakMemory,
    children_except,
    most_at_once,
    parents,
    run_ids,
    span_seconds,
    task_records,
    task_times,
    tree,
)
from tests.support.cli import crmwh


def _metadata(path) -> None:
    """A SQLite file with the columns of Airflow's dag_run and task_instance the bench reads."""
    with sqlite3.connect(path) as conn:
        conn.execute("create table dag_run (dag_id text, run_id text)")
        conn.execute("""create table task_instance (dag_id text, run_id text, task_id text,
                        map_index integer, state text, start_date text, end_date text,
                        duration float)""")
        conn.executemany("insert into dag_run values (?, ?)", [
            ("crm_nightly", "manual__a"), ("crm_nightly", "manual__b"), ("other", "x")])
        conn.executemany("insert into task_instance values (?, ?, ?, ?, ?, ?, ?, ?)", [
            ("crm_nightly", "manual__b", "extract_sales", -1, "success",
             "2026-12-06 10:00:00.000000", "2026-12-06 10:00:04.500000", 4.5),
            # no duration recorded: end - start
            ("crm_nightly", "manual__b", "dbt_core.run", -1, "success",
             "2026-12-06 10:00:05.000000+00:00", "2026-12-06 10:00:17.250000+00:00", None),
            ("crm_nightly", "manual__b", "gate", 2, "failed",
             "2026-12-06 10:00:04.600000", "2026-12-06 10:00:05.000000", 0.4),
            ("crm_nightly", "manual__b", "publish_marts", -1, "upstream_failed", None, None,
             None),
            ("crm_nightly", "manual__a", "extract_sales", -1, "success",
             "2026-12-05 10:00:00", "2026-12-05 10:09:00", 540.0),
        ])


def test_task_times_of_one_run_slowest_first(tmp_path):
    db = tmp_path / "airflow.db"
    _metadata(db)
    assert run_ids(db, "crm_nightly") == {"manual__a", "manual__b"}
    tasks = task_times(db, "crm_nightly", "manual__b")
    assert [(t["task_id"], t["state"], t["seconds"]) for t in tasks] == [
        ("dbt_core.run", "success", 12.25),
        ("extract_sales", "success", 4.5),
        ("gate[2]", "failed", 0.4),
        ("publish_marts", "upstream_failed", None),
    ]
    assert span_seconds(tasks) == 17.25
    assert most_at_once(tasks) == 1  # one after another, as `airflow dags test` runs them
    assert task_times(db, "crm_nightly", "manual__none") == []
    assert span_seconds([]) is None


def test_tasks_side_by_side_from_the_schedulers_rows():
    """Rows as crmwh.airflow_metadata reads them from Postgres (ISO time stamps in UTC)."""
    rows = [("extract_sales", -1, "success", "2026-12-06T10:00:00+00:00",
             "2026-12-06T10:00:20+00:00", 20.0),
            ("extract_billing", -1, "success", "2026-12-06T10:00:01+00:00",
             "2026-12-06T10:00:10+00:00", 9.0),
            ("extract_service", -1, "success", "2026-12-06T10:00:02+00:00",
             "2026-12-06T10:00:05+00:00", 3.0),
            # starts the instant extract_service ends: not at the same time as it
            ("gate_service", -1, "success", "2026-12-06T10:00:05+00:00",
             "2026-12-06T10:00:06+00:00", 1.0),
            ("dbt_staging", -1, "success", "2026-12-06T10:00:21+00:00",
             "2026-12-06T10:00:30+00:00", 9.0)]
    tasks = task_records(rows)
    assert [t["task_id"] for t in tasks][:2] == ["extract_sales", "extract_billing"]
    assert most_at_once(tasks) == 3
    assert span_seconds(tasks) == 30.0
    assert most_at_once([]) == 0


def test_tree_follows_children_and_leaves_out_skipped_trees():
    parent_of = {1: 0, 10: 1, 11: 10, 12: 10, 20: 1, 21: 20, 30: 2}
    assert tree([10], parent_of) == {10, 11, 12}
    assert tree([99], parent_of) == set()  # not alive
    assert children_except(1, {20})(parent_of) == {10, 11, 12}


def test_peak_memory_sees_a_child_process_tree():
    me = os.getpid()
    assert parents()[me] == os.getppid()
    # a child that holds 200 MiB, and a grandchild that holds 100 MiB, for a few seconds
    code = ("import subprocess, sys, time; b = bytearray(200 * 2**20); "
            "p = subprocess.Popen([sys.executable, '-c', "
            "'import time; b = bytearray(100 * 2**20); time.sleep(3)']); "
            "time.sleep(3); p.wait()")
    with PeakMemory({"children": children_except(me, set())}, interval=0.2) as memory:
        child = subprocess.Popen([sys.executable, "-c", code])
        child.wait()
    peak = memory.peak["children"]
    assert peak["processes"] >= 2
    assert 300 <= peak["rss_mb"] < 600
    assert 0 < peak["pss_mb"] <= peak["rss_mb"] + 1
    assert memory.samples >= 5
    # skipping the child's tree leaves nothing of it
    with PeakMemory({"none": children_except(me, {me})}, interval=0.2) as memory:
        pass
    assert memory.peak["none"]["rss_mb"] == 0


def test_execution_list():
    assert executions("local, watcher") == ("local", "watcher")
    assert executions("watcher,watcher") == ("watcher",)
    with pytest.raises(argparse.ArgumentTypeError, match="local, watcher"):
        executions("local,cosmos")
    assert orchestrators("test,scheduler") == ("test", "scheduler")
    with pytest.raises(argparse.ArgumentTypeError, match="test, scheduler"):
        orchestrators("celery")


def _result(customers: int, full_s: float, plain_s: float) -> dict:
    def night(kind, wall, tasks):
        return {"night": kind, "ok": True, "wall_s": wall, "warehouse_mb": 50.0,
                "most_tasks_at_once": 3,
                "peak_memory_mb": {"worker": {"rss_mb": 900.0}, "postgres": {"rss_mb": 300.0}},
                "tasks": tasks}
    tasks = [{"task_id": f"t{i}", "seconds": 20 - i, "state": "success"} for i in range(12)]
    return {"customers": customers, "days": 90, "started_at": "2026-12-06T12:00:00+00:00",
            "commit": "0123456789abcdef", "sources": {"reused": True},
            "machine": {"cpus": 2, "load_before": [3.0, 2, 1], "load_after": [4.0, 2, 1]},
            "dag": [{"orchestrator": "test", "execution": "watcher",
                     "nights": [night("full", full_s, tasks), night("next_day", 30.0, tasks)]}],
            "plain": {"nights": [night("full", plain_s, []), night("next_day", 25.0, [])]}}


def test_summary_against_the_goals():
    missed = nightly.summarise(_result(100_000, 300.0, 250.0))
    full, next_day = missed["summary"]
    assert (full["goal_s"], full["goal_met"], full["overhead"]) == (240, False, 1.2)
    assert full["overhead_goal"] == 1.15 and full["overhead_met"] is False
    assert (next_day["goal_s"], next_day["goal_met"], next_day["overhead_met"]) == (60, True, False)
    assert [t["task_id"] for t in full["slowest_tasks"]] == [f"t{i}" for i in range(10)]
    text = nightly.markdown(missed)
    assert "| test | watcher | full | yes | 300.0 | 250.0 | 1.2 | 240 | **no** | 3 |" in text
    assert "Slowest tasks, test watcher full: t0 20 s" in text

    met = nightly.summarise(_result(2_000, 40.0, 20.0))
    assert [r["goal_met"] for r in met["summary"]] == [True, True]
    assert met["summary"][0]["overhead_met"] is None  # an overhead goal only at 100,000
    assert "Slowest tasks" not in nightly.markdown(met)


def test_record_writes_json_and_appends_markdown(tmp_path):
    result = nightly.summarise(_result(2_000, 40.0, 20.0))
    path, md = nightly.record(result, tmp_path)
    nightly.record(result, tmp_path)
    assert path.name == "nightly_2000.json" and '"customers": 2000' in path.read_text()
    text = md.read_text()
    assert text.startswith("# The nightly DAG's wall time")
    assert text.count("### 2,000 customers") == 2


def test_help():
    done = crmwh("bench", "nightly", "--help")
    assert done.returncode == 0 and "--execution" in done.stdout
    assert "--orchestrator" in done.stdout
