"""``crmwh run``: the nightly DAG through Airflow for some dates, or a range of them (backfill)."""

from __future__ import annotations

import argparse
import calendar
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from crmwh import settings
from crmwh.cli import plugins
from crmwh.cli.common import iso_date, say
from crmwh.errors import CrmwhError

EVERY = ("day", "week", "month")


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run", help="run the nightly DAG for some dates or a range of them",
        description="Run crm_nightly through Airflow for each --date, or for each date from "
                    "--from to --to (every day, week or month; the last run is --to itself), "
                    "in order, stopping at the first failure.")
    run.add_argument("--date", type=iso_date, action="append",
                     help="logical date YYYY-MM-DD (repeatable)")
    run.add_argument("--from", dest="first", type=iso_date, metavar="D1",
                     help="first logical date of a backfill")
    run.add_argument("--to", dest="last", type=iso_date, metavar="D2",
                     help="last logical date of a backfill (always run)")
    run.add_argument("--every", default=None, metavar="|".join(EVERY),
                     help="step of a backfill (default: day)")
    run.add_argument("--scheduler", action="store_true",
                     help="trigger each run in the running scheduler (`crmwh scheduler start`) "
                          "and wait for its end, instead of `airflow dags test`")
    run.add_argument("--rewind", action="store_true",
                     help="publish a date older than the one the marts hold (every mart is "
                          "rebuilt as of it); without it such a run is refused")
    run.set_defaults(func=cmd_run)


def add_months(day: date, months: int, month_end: bool) -> date:
    """``day`` moved by ``months`` months: the same day of the month (the month's last day when
    it is shorter), or the month's last day when ``month_end``."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    length = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, length if month_end else min(day.day, length))


def backfill_dates(first: date, last: date, every: str = "day") -> list[date]:
    """``first``, ``first`` + one step, ... while before ``last``, then ``last`` itself. A month
    step keeps ``first``'s day of the month (month ends when ``first`` is one)."""
    if every not in EVERY:
        raise CrmwhError(f"unknown --every {every!r}", f"use one of {', '.join(EVERY)}")
    if last < first:
        raise CrmwhError(f"--to {last} is before --from {first}", "give --to on or after --from")
    month_end = add_months(first, 0, True) == first
    out, n, day = [], 0, first
    while day < last:
        out.append(day)
        n += 1
        if every == "month":
            day = add_months(first, n, month_end)
        else:
            day = first + timedelta(days=n * (7 if every == "week" else 1))
    return [*out, last]


def run_dates(args: argparse.Namespace) -> list[date]:
    """The logical dates to run, in order: the ``--date``s, or the ``--from``/``--to`` range."""
    ranged = args.first is not None or args.last is not None
    if args.date and (ranged or args.every is not None):
        raise CrmwhError("--date cannot be combined with --from/--to/--every",
                         "give --date D (repeatable) or --from D1 --to D2 [--every STEP]")
    if args.date:
        return list(args.date)
    if args.first is None or args.last is None:
        raise CrmwhError("a backfill needs both --from and --to" if ranged or args.every
                         else "no date to run", "give --date D or --from D1 --to D2")
    return backfill_dates(args.first, args.last, args.every or "day")


def resume_command(args: argparse.Namespace, days: list[date], failed: int) -> str:
    """The command that runs ``days[failed:]`` again."""
    rest = days[failed:]
    how = " --scheduler" if args.scheduler else ""
    if args.first is not None:
        every = args.every or "day"
        command = f"crmwh run --from {rest[0]} --to {args.last}" + (
            f" --every {every}" if every != "day" else "")
        if backfill_dates(rest[0], args.last, every) == rest:
            return command + how + (" --rewind" if args.rewind else "")
    return "crmwh run " + " ".join(f"--date {day}" for day in rest) + how + (
        " --rewind" if args.rewind else "")


def cmd_run(args: argparse.Namespace) -> int:
    from crmwh import airflow_env, triggered_run, warehouse
    from crmwh.extract import mapping_check
    from crmwh.mapping import model

    days = run_dates(args)  # argument errors before anything starts
    cfg = settings.load()
    model.load(cfg)  # a mistake in the mapping file before anything starts
    if args.scheduler:
        triggered_run.check_ready(cfg)
    warehouse.ensure_warehouse(cfg)
    mapping_check.check(cfg)  # and against the live sources (the embedded ones are up now)
    plugins.prepare_run(cfg)
    log_dir = cfg.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    if args.scheduler:
        say("preparing the run (dbt manifest)")
        manifest = cfg.dbt_project_dir / "target" / "manifest.json"
        before = manifest.stat().st_mtime if manifest.exists() else None
        if airflow_env.dbt_manifest(cfg).stat().st_mtime != before:
            say("the dbt project changed: the scheduler parses the DAG again")
            triggered_run.reparse(cfg, log_dir / "reserialize.log")
    else:
        say("preparing Airflow (db migrate, dbt manifest)")
        airflow_env.migrate(cfg)
        airflow_env.dbt_manifest(cfg)
    for n, day in enumerate(days):
        log = log_dir / f"crm_nightly_{day}.log"
        kept = keep_log(log)
        how = ("triggering crm_nightly in the scheduler" if args.scheduler
               else "running DAG crm_nightly through Airflow")
        say(f"[{n + 1}/{len(days)}] {day}: {how} (log: {log}"
            + (f"; the last run's kept as {kept.name})" if kept else ")"))
        t = time.monotonic()
        before = _last_summary(cfg, day)
        failure = (_triggered(cfg, day, log, args.rewind) if args.scheduler
                   else _tested(cfg, day, log, args.rewind))
        if failure is None and _last_summary(cfg, day) in (None, before):
            failure = "Airflow ran no task (is the date before the DAG's start_date?)"
        if failure is not None:
            say(f"[{n + 1}/{len(days)}] {day}: crm_nightly FAILED after "
                f"{time.monotonic() - t:.0f} s: {failure}")
            say(f"to resume: {resume_command(args, days, n)}")
            return 1
        say(f"[{n + 1}/{len(days)}] {day}: crm_nightly succeeded in "
            f"{time.monotonic() - t:.0f} s")
        _print_run(cfg, day)
    return 0


def keep_log(log: Path) -> Path | None:
    """Keep a date's earlier log beside the new one, named by when it was last written
    (``crm_nightly_<date>.<UTC time>.log``); the kept file, or None when there was none."""
    if not log.exists():
        return None
    stamp = datetime.fromtimestamp(log.stat().st_mtime, UTC).strftime("%Y%m%dT%H%M%S%fZ")
    kept = log.with_name(f"{log.stem}.{stamp}.log")
    log.rename(kept)
    return kept


def _tested(cfg: settings.Settings, day: date, log: Path, rewind: bool) -> str | None:
    """One night through ``airflow dags test``, its progress shown as its tasks start; None,
    or what failed."""
    from crmwh import airflow_env
    from crmwh.cli.progress import DagProgress

    progress = DagProgress(airflow_env.DAG_ID, lambda run_id: airflow_env.task_count(cfg, run_id))
    try:
        code = airflow_env.run_dag(cfg, day.isoformat(), log, rewind, watch=progress)
    finally:
        progress.close()
    return None if code == 0 else _first_failure(log)


def _triggered(cfg: settings.Settings, day: date, log: Path, rewind: bool) -> str | None:
    """One night triggered in the scheduler and followed to its end; None, or what failed."""
    from crmwh import triggered_run

    run_id = triggered_run.trigger(cfg, day, log, rewind)
    say(f"  run {run_id} queued")
    run = triggered_run.follow(cfg, run_id, progress=say)
    return None if run["state"] == "success" else triggered_run.first_failure(cfg, run)


def _last_summary(cfg: settings.Settings, day: date):
    """When the latest run summary of ``day`` was written (None: never)."""
    from crmwh import database

    with database.connect(cfg.warehouse_dsn) as conn:
        return conn.execute("select max(finished_at) from audit.run_summary where as_of_date = %s",
                            (day,)).fetchone()[0]


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
