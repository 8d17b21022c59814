"""``crmwh scheduler``: the nightly under Airflow's real scheduler, in the background."""

from __future__ import annotations

import argparse

from crmwh import settings
from crmwh.cli import plugins
from crmwh.cli.common import say


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "scheduler", help="run Airflow's scheduler in the background (LocalExecutor, Postgres)",
        description="Start, stop or inspect Airflow's api-server, dag-processor, triggerer and "
                    "scheduler for this home (pids and logs in $CRM_HOME/scheduler). While they "
                    "run, crm_nightly runs on its schedule (CRM_NIGHTLY_SCHEDULE) and "
                    "`crmwh run --date D --scheduler` triggers a run and waits for its end.")
    cmd.add_argument("action", choices=["start", "stop", "status"])
    cmd.set_defaults(func=cmd_scheduler)


def cmd_scheduler(args: argparse.Namespace) -> int:
    from crmwh import scheduler

    cfg = settings.load()
    if args.action == "start":
        _start(cfg)
    elif args.action == "stop":
        stopped = scheduler.stop(cfg)
        say(f"stopped {', '.join(stopped)}" if stopped else "not running")
    else:
        return _status(cfg)
    return 0


def _start(cfg: settings.Settings) -> None:
    from crmwh import airflow_env, scheduler, warehouse
    from crmwh.extract import mapping_check
    from crmwh.mapping import model

    model.load(cfg)
    warehouse.ensure_warehouse(cfg)
    mapping_check.check(cfg)
    plugins.prepare_run(cfg)  # e.g. the service simulator, which the nightly's tasks call
    airflow_env.dbt_manifest(cfg)
    scheduler.start(cfg, progress=say)
    say(f"running: Airflow UI and API at {scheduler.api_url(cfg)}; "
        "`crmwh run --date D --scheduler` triggers a night, `crmwh scheduler stop` ends them")


def _status(cfg: settings.Settings) -> int:
    from crmwh import airflow_env, airflow_metadata, scheduler
    from crmwh.errors import CrmwhError

    pids = scheduler.status(cfg)
    for name, pid in pids.items():
        say(f"{name}: {'running, pid ' + str(pid) if pid else 'stopped'} "
            f"(log: {scheduler.log_path(cfg, name)})")
    if not all(pids.values()):
        return 1
    try:
        dag = airflow_metadata.dag_status(cfg.airflow_db_dsn, airflow_env.DAG_ID)
    except CrmwhError as exc:
        say(str(exc))
        return 1
    if dag is None:
        say("crm_nightly: not parsed yet")
    else:
        next_run = dag["next_run_after"] or "none (CRM_NIGHTLY_SCHEDULE=none)"
        say(f"crm_nightly: {'paused' if dag['paused'] else 'active'}; next scheduled run "
            f"{next_run}; UI at {scheduler.api_url(cfg)}")
    return 0
