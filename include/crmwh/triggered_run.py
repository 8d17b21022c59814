"""One run of ``crm_nightly`` under the running scheduler (:mod:`crmwh.scheduler`): created
with ``airflow dags trigger`` for a logical date (so it builds as of that date, like
``crmwh run --date D``), then followed in the metadata database to its end."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from crmwh import airflow_env, airflow_metadata, scheduler
from crmwh.errors import CrmwhError
from crmwh.settings import Settings

FINISHED = ("success", "failed")
TASK_DONE = ("success", "failed", "skipped", "upstream_failed", "removed")
RAN = ("success", "failed")  # reported one by one; the others only in the counts
POLL_S = 2.0


def check_ready(cfg: Settings) -> None:
    """The scheduler runs for this home and the DAG is parsed and not paused."""
    down = [name for name, pid in scheduler.status(cfg).items() if pid is None]
    if down:
        raise CrmwhError(f"the scheduler is not running in {cfg.home} ({', '.join(down)} down)",
                         "start it with `crmwh scheduler start`")
    dag = airflow_metadata.dag_status(cfg.airflow_db_dsn, airflow_env.DAG_ID)
    if dag is None or not dag["serialized"]:
        raise CrmwhError("the scheduler has not parsed crm_nightly",
                         f"see {scheduler.log_path(cfg, 'dag-processor')}")
    if dag["paused"]:
        raise CrmwhError("crm_nightly is paused, so its runs would wait in the queue",
                         f"unpause it in the Airflow UI ({scheduler.api_url(cfg)})")


def reparse(cfg: Settings, log: Path) -> None:
    """Parse the DAG into the metadata now (``airflow dags reserialize``), e.g. after the
    dbt manifest changed, instead of at the dag-processor's next turn."""
    if airflow_env.command(cfg, "dags", "reserialize", log=log,
                           env=scheduler.environment(cfg)) != 0:
        raise CrmwhError("`airflow dags reserialize` failed", f"see {log}")


def trigger(cfg: Settings, day: date, log: Path, rewind: bool = False) -> str:
    """Create a run for logical date ``day`` (``rewind``: it may publish an as-of date older
    than the published one); return its run id."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_id = f"crmwh__{day.isoformat()}__{stamp}"
    conf = ("--conf", '{"rewind": true}') if rewind else ()
    code = airflow_env.command(cfg, "dags", "trigger", airflow_env.DAG_ID, "--logical-date",
                               day.isoformat(), "--run-id", run_id, *conf, log=log,
                               env=scheduler.environment(cfg))
    if code != 0:
        raise CrmwhError(f"`airflow dags trigger` failed for {day}", f"see {log}")
    return run_id


def follow(cfg: Settings, run_id: str, progress: Callable[[str], None] = print,
           every_s: float = 60.0) -> dict:
    """Wait for the run's end, reporting each task that ran to its end and, every
    ``every_s``, what runs; return the run (type, state, dates) with its id and task
    instances."""
    dsn, seen, last_report = cfg.airflow_db_dsn, set(), time.monotonic()
    while True:
        if scheduler.status(cfg)["scheduler"] is None:
            raise CrmwhError(f"the scheduler stopped while run {run_id} was not finished",
                             f"see {scheduler.log_path(cfg, 'scheduler')}; start it again "
                             "with `crmwh scheduler start` (the run goes on)")
        run = airflow_metadata.run(dsn, airflow_env.DAG_ID, run_id)
        if run is None:
            raise CrmwhError(f"run {run_id} is not in the metadata database",
                             "check CRM_AIRFLOW_DB_DSN")
        tasks = airflow_metadata.task_instances(dsn, airflow_env.DAG_ID, run_id)
        for task_id, _, state, _, _, duration in sorted(tasks, key=lambda t: t[4] or ""):
            if state in TASK_DONE and task_id not in seen:
                seen.add(task_id)
                if state in RAN:
                    took = f" in {duration:.0f} s" if duration is not None else ""
                    progress(f"  task {len(seen)} of {len(tasks)}: {task_id} {state}{took}")
        if run["state"] in FINISHED:
            return {**run, "run_id": run_id, "tasks": tasks}
        if time.monotonic() - last_report >= every_s:
            last_report = time.monotonic()
            active = [t[0] for t in tasks if t[2] in ("running", "queued", "deferred")]
            progress(f"  {run['state']}: {len(seen)} of {len(tasks)} tasks done; "
                     f"now {', '.join(active[:5]) or 'waiting for the scheduler'}"
                     f"{' ...' if len(active) > 5 else ''}")
        time.sleep(POLL_S)


def first_failure(cfg: Settings, run: dict) -> str:
    """The first failed task of a run, the first error its log names, and the log."""
    failed = sorted((t for t in run["tasks"] if t[2] == "failed"), key=lambda t: t[3] or "")
    if not failed:
        return f"the run ended {run['state']} (see the Airflow UI at {scheduler.api_url(cfg)})"
    task_id = failed[0][0]
    folder = (cfg.airflow_home / "logs" / f"dag_id={airflow_env.DAG_ID}"
              / f"run_id={run['run_id']}" / f"task_id={task_id}")
    logs = sorted(folder.glob("attempt=*.log"), key=lambda p: p.stat().st_mtime)
    error = _first_error(logs[-1]) if logs else None
    return f"task {task_id} failed{': ' + error if error else ''} (log: {folder})"


def _first_error(log: Path) -> str | None:
    """The exception an Airflow task log (JSON lines) reports, else its first error line;
    shortened to one line."""
    errors = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("level") in ("error", "critical"):
            errors.append(event)
    for event in errors:
        detail = event.get("error_detail") or event.get("exception")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            raised = detail[0]  # the exception raised; the ones after it are its causes
            return f"{raised.get('exc_type')}: {raised.get('exc_value')}".splitlines()[0][:300]
    text = str(errors[0].get("event", "")).strip() if errors else ""
    return text.splitlines()[0][:300] if text else None
