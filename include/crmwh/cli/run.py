"""``crmwh run``: the nightly DAG through Airflow for one or more dates."""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

from crmwh import settings
from crmwh.cli import plugins
from crmwh.cli.common import iso_date, say


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the nightly DAG for one or more dates",
                         description="Run crm_nightly through Airflow for each --date.")
    run.add_argument("--date", type=iso_date, action="append", required=True,
                     help="logical date YYYY-MM-DD (repeatable)")
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from crmwh import airflow_env, warehouse

    cfg = settings.load()
    warehouse.ensure_warehouse(cfg)
    plugins.prepare_run(cfg)
    say("preparing Airflow (db migrate, dbt manifest)")
    airflow_env.migrate(cfg)
    airflow_env.dbt_manifest(cfg)
    log_dir = cfg.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for day in args.date:
        log = log_dir / f"crm_nightly_{day}.log"
        log.unlink(missing_ok=True)
        say(f"running DAG crm_nightly for {day} through Airflow (log: {log})")
        t = time.monotonic()
        code = airflow_env.run_dag(cfg, day.isoformat(), log)
        if code != 0:
            failure = _first_failure(log)
            say(f"crm_nightly for {day} FAILED after {time.monotonic() - t:.0f} s: {failure}")
            return 1
        say(f"crm_nightly for {day} succeeded in {time.monotonic() - t:.0f} s")
        _print_run(cfg, day)
    return 0


def _first_failure(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    for marker in ("QualityGateFailed", "CrmwhError", "Error:", "ERROR"):
        for line in lines:
            if marker in line:
                return line.strip()[:400]
    return f"see {log}"


def _print_run(cfg: settings.Settings, day: date) -> None:
    from crmwh import database
    from crmwh.cli import printout

    with database.connect(cfg.warehouse_dsn) as conn:
        print(printout.run_report(conn, day))
