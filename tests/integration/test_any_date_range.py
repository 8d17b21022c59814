"""Data of any age: sources simulated from 1997-01-01, landed and gated as of 1997-03-01 and
built with dbt (core, the model fits, marts) as of that date: every test passes and the
calendar dim_date spans the facts, the as-of date and the model horizons. Then the same
warehouse as of 2045, and an empty one as of 2045: the calendar follows.

The session's simulators hold 2026 data, so this module has its own: a sales database, a
billing folder, a service store and its API simulator on another port, in a temp home.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from crmwh import dbt_runner, pipeline, settings
from tests.support.databases import drop_database, fresh_database
from tests.support.ports import free_port

START = date(1997, 1, 1)
DAYS = 60
AS_OF = START + timedelta(days=DAYS - 1)  # 1997-03-01
FUTURE = date(2045, 6, 1)
RUN_ID = f"old-{AS_OF}"
DB, SALES_DB, COPY_DB, EMPTY_DB = "crm_1997", "crm_1997_sales", "crm_1997_2045", "crm_2045"
CLV_HORIZON_YEARS = settings.dbt_vars()["clv_horizon_years"]

# every fact column with a relationships test to dim_date (models/core/_core__models.yml)
DATE_KEYS = {
    "fct_order_lines": "order_date_key", "fct_orders": "order_date_key",
    "fct_opportunities": "created_date_key", "fct_invoices": "invoice_date_key",
    "fct_payments": "paid_date_key", "fct_credit_notes": "issued_date_key",
    "fct_shipments": "shipped_date_key", "fct_tickets": "created_date_key",
    "fct_contract_events": "event_date_key", "fct_receivables_daily": "date_key",
}


def build(dsn: str, as_of: date, tmp: Path, *args: str) -> str:
    done = dbt_runner.run(dsn, "build", *args, as_of_date=as_of,
                          dbt_vars={"dq_run_id": RUN_ID}, target=tmp / "target",
                          logs=tmp / "logs", timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


def one(dsn: str, query: str):
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchone()


def land_1997(cfg: settings.Settings, home: Path, dsn: str) -> None:
    """Simulate the sources from 1997-01-01 and land every source as of 1997-03-01."""
    from crmwh_devkit.simulators import fill, service_process
    from crmwh_devkit.simulators.population import GeneratorConfig

    sales_dsn = fresh_database(cfg, SALES_DB, warehouse=False)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"CRM_HOME": str(home), "CRM_WAREHOUSE_DSN": dsn,
                            "CRM_SALES_DSN": sales_dsn, "CRM_BILLING_DIR": str(home / "billing"),
                            "CRM_SERVICE_URL": f"http://127.0.0.1:{free_port()}"}.items():
            mp.setenv(name, value)
        old = settings.load()
        fill.fill(old, GeneratorConfig(seed=11, customers=150, start=START, days=DAYS),
                  progress=lambda _msg: None)
        service_process.start(old)
        try:
            for source in pipeline.SOURCES:  # land and gate, as the nightly does
                pipeline.quality_gate(pipeline.extract_and_land(source, AS_OF, RUN_ID), RUN_ID)
        finally:
            service_process.stop(old)
        build(dsn, AS_OF, home, "--exclude", "path:models/marts")
        pipeline.fit_models(AS_OF, RUN_ID)
        build(dsn, AS_OF, home, "--select", "path:models/marts")


@pytest.fixture(scope="module")
def old_warehouse(cfg, tmp_path_factory) -> str:
    """The 1997 warehouse, built as of 1997-03-01; its DSN."""
    dsn = fresh_database(cfg, DB)
    land_1997(cfg, tmp_path_factory.mktemp("home-1997"), dsn)
    yield dsn
    drop_database(cfg, DB)
    drop_database(cfg, SALES_DB)


def calendar(dsn: str) -> tuple[date, date, int]:
    return one(dsn, "select min(date_day), max(date_day), count(*) from core.dim_date")


def test_1997_data_builds_and_the_calendar_spans_the_facts(old_warehouse):
    dsn = old_warehouse
    first, last, days = calendar(dsn)
    assert days == (last - first).days + 1  # one row per day, no gap
    assert (first.month, first.day, last.month, last.day) == (1, 1, 12, 31)  # whole years
    assert first <= START and first.year >= 1990  # follows the data, not a fixed year
    horizon = date(AS_OF.year + CLV_HORIZON_YEARS, AS_OF.month, AS_OF.day)
    assert last >= horizon and last.year < 2020  # the as-of date's horizons, no 2020..2030
    latest_end = one(dsn, "select max(end_date) from core.dim_contract")[0]
    assert latest_end is not None and latest_end <= last  # contract ends lie in the calendar
    orders = one(dsn, "select count(*), max(order_date) from core.fct_orders")
    assert orders[0] > 0 and orders[1] == AS_OF
    for table, key in DATE_KEYS.items():
        rows, outside = one(dsn, f"""
            select count(*), count(*) filter (where d.date_key is null)
            from core.{table} f left join core.dim_date d on f.{key} = d.date_key""")
        assert rows > 0, f"{table} is empty: the test would prove nothing"
        assert outside == 0, f"{table}.{key} has {outside} dates outside dim_date"
    assert one(dsn, "select count(*) from marts.mart_customer_value")[0] > 0


def test_the_calendar_holds_a_far_future_as_of_date(cfg, old_warehouse, tmp_path):
    dsn = fresh_database(cfg, COPY_DB, template=DB)
    try:
        build(dsn, FUTURE, tmp_path, "--select", "dim_date")
        first, last, _ = calendar(dsn)
        assert first == calendar(old_warehouse)[0]  # the data's years stay
        assert last == date(FUTURE.year + CLV_HORIZON_YEARS, 12, 31)
    finally:
        drop_database(cfg, COPY_DB)


def test_an_empty_warehouse_builds_as_of_2045(cfg, tmp_path):
    """No data at all: the calendar is the years around the as-of date, every test passes."""
    dsn = fresh_database(cfg, EMPTY_DB)
    try:
        build(dsn, FUTURE, tmp_path)
        assert calendar(dsn) == (date(FUTURE.year, 1, 1),
                                 date(FUTURE.year + CLV_HORIZON_YEARS, 12, 31), 1461)
    finally:
        drop_database(cfg, EMPTY_DB)
