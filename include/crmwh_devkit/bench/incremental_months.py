"""Benchmark: int_churn__customer_months on a next-day night (incremental) against a full
rebuild, beside int_customer_value__monthly, which it reads and which is rebuilt in full every
night (benchmarks/incremental_months.md).

    CRM_HOME=... CRM_PG_PORT=... python -m crmwh_devkit.bench.incremental_months DAY \\
        [--factor K] [--record]

On the generated sources of the home (``crmwh generate``; the service API is started here),
in a fresh database ``bench_months``:
  1. land and gate the nights DAY and DAY + 1, as the nightly does, and build everything the
     two models read as of DAY;
  2. with ``--factor K`` > 1, replicate their core inputs K times with offset keys
     (crmwh_devkit.bench.churn.replicate: every copy an independent customer) and rebuild
     fct_churn_events on them; then ``--full-refresh`` the two models as of DAY (timed);
  3. the next day: core rebuilt as of DAY + 1 (and replicated again the same way), then the two
     models as the nightly builds them (timed), the same night again (nothing changed: the churn
     months' fingerprints and its as-of month only, timed), and a --full-refresh of the same date
     (timed) on a copy of the database; both must hold the same rows (a hash of every row).
Model times are dbt's execution_time (pre-hook included) from run_results.json; wall times
include dbt's start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

from crmwh import database, dbt_runner, pipeline, settings
from crmwh.errors import CrmwhError
from crmwh.settings import PROJECT_ROOT
from crmwh_devkit.bench.churn import replicate
from crmwh_devkit.simulators import service_process

DB, COPY_DB = "bench_months", "bench_months_full"
MODELS = ("int_customer_value__monthly", "int_churn__customer_months")
# the core tables the two models and fct_churn_events read
INPUTS = ("core.dim_customer", "core.dim_contract", "core.fct_orders", "core.fct_credit_notes",
          "core.fct_tickets", "core.fct_invoices")
# everything the two models read (snapshots included), without tests
UPSTREAM = ("--select", f"+{MODELS[1]}", "--exclude", *MODELS,
            "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test")


def _dbt(dsn: str, day: date, target: Path, command: str, *args: str) -> dict:
    started = time.perf_counter()
    done = dbt_runner.run(dsn, command, *args, as_of_date=day, target=target,
                          logs=target / "logs")
    wall = round(time.perf_counter() - started, 2)
    if done.returncode != 0:
        raise CrmwhError(f"dbt {command} {' '.join(args)} as of {day} failed: "
                         f"{done.stdout.strip().splitlines()[-1]}", f"see {target / 'logs'}")
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {"wall_s": wall, "models_s": {
        r["unique_id"].split(".")[-1]: round(r["execution_time"], 2)
        for r in results if r["unique_id"].split(".")[-1] in MODELS}}


def _scale(dsn: str, day: date, target: Path, factor: int) -> None:
    if factor > 1:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for table in INPUTS:
                replicate(conn, table, factor)
        _dbt(dsn, day, target, "run", "--select", "fct_churn_events")


def _rebuilt(dsn: str) -> dict:
    """What the churn months' pre-hook marked for a rebuild: per part, 'n of all'."""
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute(
            f"select part, count(*) filter (where rebuild) || ' of ' || count(*) "
            f"from intermediate.{MODELS[1]}__inputs group by part").fetchall())


def _digest(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn:
        return {model: conn.execute(
            f"select count(*), sum(hashtextextended(t::text, 0)) from intermediate.{model} t"
        ).fetchone() for model in MODELS}


def _fresh(admin: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    return database.with_database(admin, name)


def run(day: date, factor: int = 1) -> dict:
    cfg = settings.load()
    admin = database.with_database(cfg.admin_dsn, "postgres")
    dsn = _fresh(admin, DB)
    with database.connect(dsn, autocommit=True) as conn:
        from crmwh.warehouse import ensure_schemas
        ensure_schemas(conn)
    os.environ["CRM_WAREHOUSE_DSN"] = dsn
    target = Path(tempfile.mkdtemp(prefix="months-bench-"))
    nights = [day, day + timedelta(days=1)]
    service_process.start(cfg)
    try:
        for night in nights:
            for source in pipeline.SOURCES:
                run_id = f"bench-months-{night}"
                pipeline.quality_gate(pipeline.extract_and_land(source, night, run_id), run_id)
    finally:
        service_process.stop(cfg)
    out: dict = {"day": day.isoformat(), "factor": factor,
                 "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "load_before": [round(x, 2) for x in os.getloadavg()]}}
    _dbt(dsn, day, target, "build", *UPSTREAM)
    _scale(dsn, day, target, factor)
    out["full_as_of_day"] = _dbt(dsn, day, target, "run", "--full-refresh", "--select", *MODELS)

    _dbt(dsn, nights[1], target, "build", *UPSTREAM)
    _scale(dsn, nights[1], target, factor)
    out["incremental_next_day"] = _dbt(dsn, nights[1], target, "run", "--select", *MODELS)
    out["incremental_next_day_rebuilt"] = _rebuilt(dsn)
    out["incremental_same_night_again"] = _dbt(dsn, nights[1], target, "run", "--select", *MODELS)
    out["incremental_same_night_again_rebuilt"] = _rebuilt(dsn)
    incremental = _digest(dsn)
    copy = _fresh(admin, COPY_DB, template=DB)
    out["full_next_day"] = _dbt(copy, nights[1], target, "run", "--full-refresh",
                                "--select", *MODELS)
    full = _digest(copy)
    out["rows"] = {model: incremental[model][0] for model in MODELS}
    out["same_rows_as_full_refresh"] = incremental == full
    with psycopg.connect(dsn) as conn:
        out["customers"] = conn.execute(
            "select count(*) from core.dim_customer where is_current").fetchone()[0]
    out["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("day", type=date.fromisoformat)
    parser.add_argument("--factor", type=int, default=1)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    out = run(args.day, args.factor)
    print(json.dumps(out, indent=2))
    if args.record:
        path = PROJECT_ROOT / "benchmarks" / f"incremental_months_x{args.factor}.json"
        path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
