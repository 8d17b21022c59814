"""What ``crmwh run --scheduler`` says when a run fails: the first failed task, the first error
its Airflow log (JSON lines, as Airflow 3's task runner writes them) names, and the log."""

from __future__ import annotations

import json

from crmwh import settings, triggered_run

RUN_ID = "crmwh__2026-02-27__20261206T154900"


def _log(cfg, task_id: str, attempt: int, events: list[dict]):
    folder = (cfg.airflow_home / "logs" / "dag_id=crm_nightly" / f"run_id={RUN_ID}"
              / f"task_id={task_id}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"attempt={attempt}.log"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\nnot json\n")
    return folder


def _task(task_id: str, state: str, start: str | None) -> tuple:
    return (task_id, -1, state, start, None, None)


def test_the_first_failed_task_and_its_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_HOME", str(tmp_path))
    cfg = settings.load()
    folder = _log(cfg, "gate_sales", 1, [
        {"level": "info", "event": "Filling up the DagBag"},
        {"level": "error", "event": "rejected batch sales__orders_x: 9 rows moved"},
        {"level": "error", "event": "Task failed with exception",
         "exception": [{"exc_type": "QualityGateFailed",
                        "exc_value": "sales__orders: channel 'tiktok' is not allowed\nmore"},
                       {"exc_type": "ValueError", "exc_value": "the cause"}]},
        {"level": "error", "event": "a later error"},
    ])
    _log(cfg, "gate_billing", 1, [{"level": "error", "event": "Task failed\nwith detail"}])
    run = {"state": "failed", "run_id": RUN_ID, "tasks": [
        _task("extract_sales", "success", "2026-12-06T10:00:00+00:00"),
        _task("gate_billing", "failed", "2026-12-06T10:00:09+00:00"),
        _task("gate_sales", "failed", "2026-12-06T10:00:05+00:00"),
        _task("dbt_staging", "upstream_failed", None)]}
    said = triggered_run.first_failure(cfg, run)
    assert said == (f"task gate_sales failed: QualityGateFailed: sales__orders: channel "
                    f"'tiktok' is not allowed (log: {folder})")
    run["tasks"] = run["tasks"][1:2]
    assert "task gate_billing failed: Task failed (log:" in triggered_run.first_failure(cfg, run)


def test_a_failed_run_without_a_failed_task(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_HOME", str(tmp_path))
    monkeypatch.setenv("CRM_AIRFLOW_API_PORT", "18080")
    cfg = settings.load()
    run = {"state": "failed", "run_id": RUN_ID,
           "tasks": [_task("extract_sales", "upstream_failed", None)]}
    assert triggered_run.first_failure(cfg, run) == (
        "the run ended failed (see the Airflow UI at http://127.0.0.1:18080)")
    # a failed task whose log is not (yet) there
    run["tasks"] = [_task("extract_sales", "failed", "2026-12-06T10:00:00+00:00")]
    assert triggered_run.first_failure(cfg, run).startswith("task extract_sales failed (log: ")
