"""Benchmark: the whole customer-value mart rebuild (CLV fit + value models + marts) on a
warehouse whose core star is already built for the as-of date.

    CRM_HOME=... CRM_PG_PORT=... python -m crmwh_devkit.bench.mart_value 2026-03-31 [--record]

Steps, each timed on the wall clock (what the nightly waits for):
  baseline   ``dbt run`` of one trivial mart (mart_customer_share): dbt's fixed cost per
             invocation (start-up, parse, connection), paid by every step below
  fit        crmwh.pipeline.fit_models (BG/NBD + Gamma-Gamma, read + fit + score + write)
  monthly    ``dbt run -s int_customer_value__monthly`` (built in the dbt_core group)
  marts      ``dbt build -s path:models/marts``: every mart, its data tests and unit tests
Per-model execution times come from dbt's run_results.json. ``--record`` writes
benchmarks/mart_value.json.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psycopg

from crmwh import dbt_runner, pipeline, settings
from crmwh.settings import PROJECT_ROOT


def dbt(command: str, as_of_date: date, target: Path, *args: str) -> tuple[float, dict[str, float]]:
    cfg = settings.load()
    started = time.perf_counter()
    done = dbt_runner.run(cfg.warehouse_dsn, command, *args, as_of_date=as_of_date,
                          target=target)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"dbt {command} {args} failed:\n{done.stdout[-4000:]}")
    results_file = target / "run_results.json"
    if command == "parse" or not results_file.exists():
        return seconds, {}
    results = json.loads(results_file.read_text())
    nodes = {r["unique_id"].split(".")[-1]: round(r["execution_time"], 3)
             for r in results["results"] if r["unique_id"].startswith("model.")}
    return seconds, nodes


def counts(dsn: str, as_of_date: date) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "customers": one("select count(*) from marts.mart_customer_value"),
            "orders": one("select count(*) from core.fct_orders "
                          f"where order_date <= '{as_of_date}'"),
            "order_lines": one("select count(*) from core.fct_order_lines"),
            "monthly_rows": one("select count(*) from intermediate.int_customer_value__monthly"),
            "months": one("select count(distinct month_end) "
                          "from intermediate.int_customer_value__monthly"),
        }


def main() -> None:
    as_of_date = date.fromisoformat(sys.argv[1])
    record = "--record" in sys.argv
    cfg = settings.load()
    target = Path(tempfile.mkdtemp(prefix="mart-bench-target-"))
    dbt("parse", as_of_date, target)  # a warm, partial-parse-ready project for every timed step

    out: dict = {"as_of_date": as_of_date.isoformat(), "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version()}}
    # make sure the marts exist once, so the baseline model has its input
    dbt("run", as_of_date, target, "--select", "int_customer_value__monthly", "path:models/marts")
    out["baseline_seconds"], _ = dbt("run", as_of_date, target, "--select", "mart_customer_share")

    started = time.perf_counter()
    fit = pipeline.fit_models(as_of_date, "bench-marts")
    out["fit_seconds"] = time.perf_counter() - started
    out["fit"] = {k: v for k, v in fit["clv"].items() if k in (
        "status", "n_customers", "rows_written", "read_seconds", "write_seconds",
        "total_seconds")}
    out["monthly_seconds"], monthly_nodes = dbt(
        "run", as_of_date, target, "--select", "int_customer_value__monthly")
    out["marts_build_seconds"], mart_nodes = dbt(
        "build", as_of_date, target, "--select", "path:models/marts")
    out["model_seconds"] = {**monthly_nodes, **mart_nodes}
    out["total_seconds"] = out["fit_seconds"] + out["monthly_seconds"] + out["marts_build_seconds"]
    out["total_minus_dbt_overhead_seconds"] = out["total_seconds"] - 2 * out["baseline_seconds"]
    out["counts"] = counts(cfg.warehouse_dsn, as_of_date)
    for key, value in list(out.items()):
        if isinstance(value, float):
            out[key] = round(value, 2)
    print(json.dumps(out, indent=2))
    if record:
        path = PROJECT_ROOT / "benchmarks" / "mart_value.json"
        path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
