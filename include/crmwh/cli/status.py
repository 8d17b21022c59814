"""``crmwh status``: the warehouse at a glance — the last nightly runs and their as-of dates,
the as-of date the marts hold, what failed, and the rows waiting in quarantine."""

from __future__ import annotations

import argparse
import sys

from crmwh import settings
from crmwh.cli.common import say
from crmwh.errors import CrmwhError

RUNS = """
    select finished_at, run_id, as_of_date, status, failed_task, left(error, 160) as error
    from audit.run_history order by finished_at desc, id desc limit %s"""
PUBLISHED = "select as_of_date, run_id, published_at from marts.wap_published"
FAILED_CHECKS = """
    select source || '.' || entity as entity, check_name, severity, status, observed
    from audit.dq_results where run_id = %s and status in ('fail', 'error')
    order by severity, entity, check_name"""
QUARANTINED = """
    select source || '.' || entity as entity, count(*) as rows,
           count(distinct reason) as reasons, max(quarantined_at) as last_quarantined
    from quarantine.rows where released_at is null group by 1 order by 1"""
PARKED = "select count(*) from quarantine.parked where settled_at is null"


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "status", help="the last runs, the published as-of date, failures, quarantine",
        description="The last nightly runs (audit.run_history) with their as-of dates and "
                    "outcome, the as-of date the marts hold (marts.wap_published), the failed "
                    "checks of the last run, and the rows waiting in quarantine.")
    cmd.add_argument("--runs", type=int, default=5, help="how many of the last runs to show")
    cmd.add_argument("--format", choices=("table", "json"), default="table",
                     help="aligned tables, or one JSON object (numbers exact)")
    cmd.set_defaults(func=cmd_status)


def gather(conn, runs: int) -> dict:
    """What the status shows, read from the warehouse (empty parts when never run)."""
    def table_of(sql: str, *params) -> tuple[list[str], list[tuple]]:
        cur = conn.execute(sql, params)
        return [d.name for d in cur.description], cur.fetchall()

    def exists(name: str) -> bool:
        return conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0]

    out: dict = {"published": None, "runs": ([], []), "failed_checks": ([], []),
                 "quarantined": ([], []), "parked": 0}
    if exists("marts.wap_published"):
        cols, rows = table_of(PUBLISHED)
        out["published"] = (cols, rows[0]) if rows else None
    if exists("audit.run_history"):
        out["runs"] = table_of(RUNS, runs)
    if out["runs"][1] and exists("audit.dq_results"):
        out["failed_checks"] = table_of(FAILED_CHECKS, out["runs"][1][0][1])
    if exists("quarantine.rows"):
        out["quarantined"] = table_of(QUARANTINED)
    if exists("quarantine.parked"):
        out["parked"] = conn.execute(PARKED).fetchone()[0]
    return out


def cmd_status(args: argparse.Namespace) -> int:
    from crmwh import database

    if args.runs < 1:
        raise CrmwhError(f"--runs {args.runs} shows nothing", "give --runs 1 or more")
    cfg = settings.load()
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        got = gather(conn, args.runs)
    if args.format == "json":
        _print_json(got)
    else:
        _print_tables(got)
    return 0


def _print_json(got: dict) -> None:
    from crmwh.cli.printout import json_object, json_rows

    parts = {"published": json_object(*got["published"]) if got["published"] else "null",
             **{key: json_rows(*got[key]) for key in ("runs", "failed_checks", "quarantined")},
             "parked": str(got["parked"])}
    sys.stdout.write("{" + ",\n ".join(f'"{k}": {v}' for k, v in parts.items()) + "}\n")


def _print_tables(got: dict) -> None:
    from crmwh.cli.printout import table

    if got["published"]:
        as_of, run_id, at = got["published"][1]
        say(f"the marts hold as-of {as_of} (run {run_id}, published {at:%Y-%m-%d %H:%M:%S %Z})")
    else:
        say("the marts are not published yet")
    cols, runs = got["runs"]
    if not runs:
        say("no nightly run yet: `crmwh run --date D` (or `./crm demo`) runs the first")
    else:
        say(f"the last {len(runs)} runs (audit.run_history), newest first:")
        print(table(cols, runs))
        last = runs[0]
        if last[3] != "success":
            say(f"the last run ({last[1]}, as-of {last[2]}) {last[3]}"
                + (f" in task {last[4]}" if last[4] else ""))
    cols, checks = got["failed_checks"]
    if checks:
        say(f"{len(checks)} checks failed in the last run (audit.dq_results):")
        print(table(cols, checks))
    elif runs:
        say("no check failed in the last run")
    cols, waiting = got["quarantined"]
    if waiting:
        say(f"{sum(r[1] for r in waiting)} rows in quarantine, not released "
            "(`crmwh quarantine release --batch B` after a fix):")
        print(table(cols, waiting))
    else:
        say("no rows in quarantine")
    if got["parked"]:
        say(f"{got['parked']} rows parked for a late parent (`crmwh quarantine parked`)")
