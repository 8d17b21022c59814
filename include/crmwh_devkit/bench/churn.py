"""Benchmark of the churn step and marts at scale (benchmarks/churn.md).

Method (stated in the results): a generated warehouse of N customers is copied and its
``core`` inputs of the churn models are replicated ``factor`` times with offset keys in SQL
(copy k > 0 of a text key gets the suffix ``#k``, integer ids get ``+ k * 10^9``), so the
copies are independent customers with the same behaviour. Replicated: dim_customer,
dim_contract, fct_orders, fct_invoices, fct_tickets, fct_surveys, the value helper's
int_customer_value__monthly (value_rank interleaved and customer_count scaled, so tiers stay
5 / 15 / 80 %), ml.clv_predictions of the as-of date, and of fct_receivables_daily only the
days the churn fit reads (its training snapshot dates and the as-of date). Then timed: the
nightly churn fit (crmwh.churn.nightly.run) and ``dbt run`` of fct_churn_events,
int_churn__customer_months and the four churn marts (per model from dbt's run_results.json).
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from crmwh import database, dbt_runner
from crmwh.churn import labels, nightly, train
from crmwh.settings import dbt_vars

TEXT_KEYS = {"customer_key", "customer_version_key", "contract_key", "contract_version_key",
             "contract_id", "renewal_of_contract_id", "invoice_id", "billing_account_id",
             "credit_note_id", "churn_event_key"}
INT_KEYS = {"order_id", "ticket_id", "survey_id", "sales_customer_id"}
TABLES = ("core.dim_customer", "core.dim_contract", "core.fct_orders", "core.fct_invoices",
          "core.fct_tickets", "core.fct_surveys", "intermediate.int_customer_value__monthly")
MODELS = ("fct_churn_events", "int_churn__customer_months", "mart_churn_monthly",
          "mart_cohort_retention", "mart_crm_kpis", "mart_customer_churn_risk")


def _columns(conn: psycopg.Connection, table: str) -> list[str]:
    schema, name = table.split(".")
    cur = conn.execute("select column_name from information_schema.columns where "
                       "table_schema = %s and table_name = %s order by ordinal_position",
                       (schema, name))
    return [r[0] for r in cur.fetchall()]


def _expr(column: str, factor: int) -> str:
    if column in TEXT_KEYS:
        return f"case when k = 0 then {column} else {column} || '#' || k end"
    if column in INT_KEYS:
        return f"{column} + cast(k as bigint) * 1000000000"
    if column == "value_rank":
        return f"(value_rank - 1) * {factor} + k + 1"
    if column == "customer_count":
        return f"customer_count * {factor}"
    return column


def replicate(conn: psycopg.Connection, table: str, factor: int, where: str = "true") -> int:
    cols = _columns(conn, table)
    select = ", ".join(f"{_expr(c, factor)} as {c}" for c in cols)
    conn.execute(f"create temporary table bench_copy as select {select} from {table} "
                 f"cross join generate_series(0, {factor - 1}) as k where {where}")
    conn.execute(f"truncate {table}")
    n = conn.execute(f"insert into {table} select * from bench_copy").rowcount
    conn.execute("drop table bench_copy")
    conn.execute(f"analyze {table}")
    return n


def scale(conn: psycopg.Connection, factor: int, as_of_date: date,
          tables: tuple[str, ...] = TABLES) -> dict[str, int]:
    rows = {t: replicate(conn, t, factor) for t in tables}
    first = train.first_data_date(conn, as_of_date)
    dates, _ = labels.training_dates(as_of_date, first, train.HORIZON_DAYS,
                                     labels.maturity_days(dbt_vars()), train.SNAPSHOTS,
                                     train.SNAPSHOT_SPACING_DAYS)
    days = ", ".join(f"date '{d}'" for d in [*dates, as_of_date])
    rows["core.fct_receivables_daily (fit days only)"] = replicate(
        conn, "core.fct_receivables_daily", factor, f"date_day in ({days})")
    rows["ml.clv_predictions"] = replicate(conn, "ml.clv_predictions", factor,
                                           f"as_of_date = date '{as_of_date}'")
    return rows


def _dbt(dsn: str, as_of_date: date, models: tuple[str, ...]) -> tuple[float, dict[str, float]]:
    t = time.perf_counter()
    dbt_runner.run(dsn, "run", "--select", *models, "--full-refresh", as_of_date=as_of_date,
                   capture=False).check_returncode()
    seconds = time.perf_counter() - t
    results = dbt_runner.PROJECT / "target" / "run_results.json"
    timings = json.loads(results.read_text())["results"]
    return seconds, {r["unique_id"].split(".")[-1]: r["execution_time"] for r in timings}


def run(dsn: str, as_of_date: date, factor: int) -> dict:
    """Scale, then time the nightly order: fct_churn_events (dbt_core), the churn fit
    (fit_models), the intermediate panel and the four marts (dbt_marts)."""
    result: dict = {"as_of_date": as_of_date.isoformat(), "factor": factor}
    with database.connect(dsn, autocommit=True) as conn:
        t = time.perf_counter()
        result["rows"] = scale(conn, factor, as_of_date)
        result["scale_seconds"] = time.perf_counter() - t
        result["customers"] = conn.execute(
            "select count(*) from core.dim_customer where is_current").fetchone()[0]
    core_seconds, models = _dbt(dsn, as_of_date, MODELS[:1])
    with database.connect(dsn, autocommit=True) as conn:
        t = time.perf_counter()
        fit = nightly.run(conn, as_of_date, "bench")
        result["fit_seconds"] = time.perf_counter() - t
        result["fit"] = {"rows_written": fit["rows_written"], "training": fit["training"],
                         "seconds": fit["seconds"]}
    marts_seconds, mart_models = _dbt(dsn, as_of_date, MODELS[1:])
    result["dbt_wall_seconds"] = core_seconds + marts_seconds
    result["models"] = {**models, **mart_models}
    result["models_seconds_total"] = sum(result["models"].values())
    with database.connect(dsn) as conn:
        result["mart_rows"] = {m: conn.execute(f"select count(*) from marts.{m}").fetchone()[0]
                               for m in MODELS if m.startswith("mart_")}
        result["churn_events"] = conn.execute(
            "select count(*) from core.fct_churn_events").fetchone()[0]
    return result


# what the churn fit reads (invoices and the value helper's monthly table it does not)
FIT_TABLES = ("core.dim_customer", "core.dim_contract", "core.fct_orders", "core.fct_tickets",
              "core.fct_surveys")


def _scale_fit_inputs(dsn: str, as_of_date: date, factor: int, result: dict) -> None:
    """Scale what the churn fit reads (core.fct_churn_events replicated with the rest instead
    of rebuilt by dbt: the copies' episodes are the originals'); forget any backtest pick, so
    every candidate is fitted."""
    with database.connect(dsn, autocommit=True) as conn:
        t = time.perf_counter()
        result["rows"] = scale(conn, factor, as_of_date, FIT_TABLES)
        result["rows"]["core.fct_churn_events"] = replicate(conn, "core.fct_churn_events",
                                                            factor)
        conn.execute("delete from audit.model_runs where model = 'churn_backtest'")
        result["scale_seconds"] = time.perf_counter() - t
        result["customers"] = conn.execute(
            "select count(*) from core.dim_customer where is_current").fetchone()[0]


def fit_only(dsn: str, as_of_date: date, factor: int) -> dict:
    """Scale what the churn fit reads, then time the nightly churn step alone, with every
    candidate fitted (no backtest pick)."""
    result: dict = {"as_of_date": as_of_date.isoformat(), "factor": factor}
    _scale_fit_inputs(dsn, as_of_date, factor, result)
    with database.connect(dsn, autocommit=True) as conn:
        t = time.perf_counter()
        fit = nightly.run(conn, as_of_date, "bench")
        result["fit_seconds"] = time.perf_counter() - t
        result["fit"] = {"rows_written": fit["rows_written"], "training": fit["training"],
                         "chosen": fit["chosen"], "seconds": fit["seconds"]}
    return result


def fit_task(dsn: str, as_of_date: date, factor: int, log: Path) -> dict:
    """Scale what the churn fit reads, then run the DAG's own ``fit_models`` task on the copy
    through Airflow (``airflow tasks test crm_nightly fit_models <date>``: CLV, then churn),
    its log appended to ``log``; the task's wall time and the model runs it recorded."""
    from dataclasses import replace

    from crmwh import airflow_env, settings

    result: dict = {"as_of_date": as_of_date.isoformat(), "factor": factor}
    _scale_fit_inputs(dsn, as_of_date, factor, result)
    cfg = replace(settings.load(), warehouse_dsn=dsn)
    env = {**airflow_env.environment(cfg), "CRM_WAREHOUSE_DSN": dsn}
    t = time.perf_counter()
    result["exit_code"] = airflow_env.command(cfg, "tasks", "test", airflow_env.DAG_ID,
                                              "fit_models", as_of_date.isoformat(), log=log,
                                              env=env)
    result["task_seconds"] = time.perf_counter() - t
    result["log"] = str(log)
    with database.connect(dsn) as conn:
        rows = conn.execute(
            """select distinct on (model) model, n_customers, metrics->'seconds'
               from audit.model_runs where as_of_date = %s and model in ('churn', 'bgnbd')
               order by model, created_at desc""", (as_of_date,)).fetchall()
    result["model_runs"] = {model: {"customers": n, "seconds": sec} for model, n, sec in rows}
    return result


def copy_warehouse(admin_dsn: str, name: str) -> str:
    """A fresh copy ``name`` of the warehouse database of ``admin_dsn`` (an earlier copy of
    that name is dropped); its DSN. Scaling rewrites the copy, never the warehouse."""
    source = urlsplit(admin_dsn).path.lstrip("/")
    if name == source:
        raise ValueError(f"the copy must not be the warehouse itself ({source})")
    with database.connect(database.with_database(admin_dsn, "postgres"),
                          autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {} template {}").format(
            sql.Identifier(name), sql.Identifier(source)))
    return database.with_database(admin_dsn, name)


def main(argv: list[str] | None = None) -> int:
    """``python -m crmwh_devkit.bench.churn --date D --factor N [--marts | --task]``: copy the
    home's warehouse (built as of D) to ``crm_bench_churn``, scale the copy N times and time
    the churn fit (with ``--marts`` also fct_churn_events and the churn marts; with ``--task``
    the DAG's fit_models task through Airflow); prints JSON."""
    import os
    import sys

    from crmwh import settings
    from crmwh.cli.common import Parser, iso_date
    from crmwh.errors import CrmwhError

    parser = Parser(prog="python -m crmwh_devkit.bench.churn", description=main.__doc__)
    parser.add_argument("--date", type=iso_date, required=True,
                        help="the as-of date the home's warehouse was built for")
    parser.add_argument("--factor", type=int, default=333, help="copies of each customer")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--marts", action="store_true",
                     help="also time dbt's churn models around the fit")
    how.add_argument("--task", action="store_true",
                     help="run the DAG's fit_models task through Airflow instead")
    args = parser.parse_args(argv)
    if args.factor < 1:
        parser.error(f"--factor must be 1 or more, not {args.factor}")
    cfg = settings.load()
    try:
        dsn = copy_warehouse(cfg.admin_dsn, "crm_bench_churn")
        before = os.getloadavg()
        if args.task:
            result = fit_task(dsn, args.date, args.factor, cfg.home / "bench_churn_task.log")
        else:
            result = (run if args.marts else fit_only)(dsn, args.date, args.factor)
    except psycopg.OperationalError as exc:
        print(f"bench: error: the warehouse does not answer ({' '.join(str(exc).split())[:200]})"
              " — start it with `crmwh db start`", file=sys.stderr)
        return 2
    except CrmwhError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    result["load_average"] = {"before": before, "after": os.getloadavg()}
    print(json.dumps(result, indent=1, default=str))
    return 0 if result.get("exit_code", 0) == 0 else 1  # the task failed: see its log


if __name__ == "__main__":
    raise SystemExit(main())
