"""int_churn__customer_months built night by night on real landed data (incrementally, beside
int_customer_value__monthly, which it reads and which is rebuilt in full) equals a
--full-refresh build of the same date: a next-day night across a month end, the same night
again after late changes to an earlier month (an old order cancelled, an old order arriving
late with its old timestamps), then a rebuild as of the earlier date. And it rebuilds only what
changed (the parts its pre-hook marks).

A private warehouse (it changes raw and builds two as-of dates); each reference is a copy of it
rebuilt with --full-refresh.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import psycopg
import pytest

from crmwh import database
from tests.support.databases import drop_database, fresh_database
from tests.support.demo import LAST_DAY
from tests.support.warehouse import Warehouse

DAY_1 = LAST_DAY - timedelta(days=1)  # 2026-02-28, the last day of a month
DAY_2 = LAST_DAY  # 2026-03-01: the next day is the first of a month
VALUE, CHURN = "int_customer_value__monthly", "int_churn__customer_months"
MONTH_OF_LATE_CHANGES = (DAY_1.replace(day=1) - timedelta(days=1)).replace(day=1)  # January
DB, REFERENCE_DB = "crm_months", "crm_months_reference"


class Months(Warehouse):
    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self.changed: dict[str, str] = {}  # late change -> customer key (late_changes)
        self.january: dict[str, float] = {}  # their January revenue before the changes


@pytest.fixture(scope="module")
def months(cfg, generated, service_up):
    dsn = fresh_database(cfg, DB)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_WAREHOUSE_DSN", dsn)
        yield Months(dsn)
    drop_database(cfg, DB)


def night(wh: Warehouse, day: date) -> None:
    """Land the night and build the two models with everything they read, as the nightly."""
    wh.land(day, "months")
    wh.dbt("build", day, "--select", f"+{CHURN}", "--exclude-resource-type", "test",
           "--exclude-resource-type", "unit_test")


def rows(wh: Warehouse, model: str) -> pd.DataFrame:
    """Every row of the model, in a fixed order of all its columns."""
    df = wh.frame(f"select * from intermediate.{model}")
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def rebuilt(wh: Warehouse, model: str, part: str) -> list[str]:
    return list(wh.frame(f"select key from intermediate.{model}__inputs "
                         f"where part = '{part}' and rebuild order by key")["key"])


def assert_equals_full_refresh(cfg, wh: Warehouse, day: date) -> None:
    """A copy of the warehouse with the churn months rebuilt by --full-refresh holds the same
    rows."""
    incremental = rows(wh, CHURN)
    assert len(incremental) > 0
    fresh_database(cfg, REFERENCE_DB, template=DB)
    try:
        reference = Warehouse(database.with_database(wh.dsn, REFERENCE_DB))
        reference.dbt("run", day, "--full-refresh", "--select", CHURN)
        pd.testing.assert_frame_equal(incremental, rows(reference, CHURN), check_exact=True)
    finally:
        drop_database(cfg, REFERENCE_DB)


def late_changes(wh: Warehouse, day: date) -> dict[str, str]:
    """Two changes to January landed on ``day``: an order cancelled that day, and an order
    arriving late with January's timestamps (a copy of another customer's January order, with
    its lines). Both customers bought before January. Returns what changed -> customer key."""
    old = wh.frame(f"""
        select o.order_id, o.sales_customer_id, o.customer_key from core.fct_orders o
        where not o.is_cancelled and not o.is_deleted
          and date_trunc('month', o.order_date) = '{MONTH_OF_LATE_CHANGES:%Y-%m-%d}'
          and exists (select 1 from core.fct_orders e where e.customer_key = o.customer_key
                      and e.order_date < '{MONTH_OF_LATE_CHANGES:%Y-%m-%d}')
        order by o.order_id limit 2""")
    assert len(old) == 2 and old.customer_key.nunique() == 2
    cancelled, copied = (int(i) for i in old.order_id)
    with psycopg.connect(wh.dsn, autocommit=True) as c:
        new_id = c.execute("select max(order_id) + 1 from raw.sales__orders").fetchone()[0]
        c.execute("""create temp table late as select * from raw.sales__orders
                     where order_id = %s order by updated_at desc limit 1""", (cancelled,))
        c.execute("update late set status = 'cancelled', updated_at = %s", (f"{day} 12:00+00",))
        c.execute("""create temp table arrived as select * from raw.sales__orders
                     where order_id = %s order by updated_at desc limit 1""", (copied,))
        c.execute("update arrived set order_id = %s", (new_id,))
        c.execute("""create temp table arrived_lines as
                     select distinct on (order_line_id) * from raw.sales__order_lines
                     where order_id = %s order by order_line_id, updated_at desc""", (copied,))
        c.execute("""update arrived_lines set order_id = %s,
                     order_line_id = order_line_id + (select max(order_line_id)
                                                      from raw.sales__order_lines)""", (new_id,))
        for temp, table in (("late", "sales__orders"), ("arrived", "sales__orders"),
                            ("arrived_lines", "sales__order_lines")):
            c.execute(f"update {temp} set _batch_id = 'late-{temp}', "
                      "_row_hash = decode(md5(random()::text), 'hex')")
            c.execute(f"insert into raw.{table} select * from {temp}")
    return {"cancelled": old.customer_key[0], "arrived": old.customer_key[1]}


def january_revenue(wh: Warehouse, customer_key: str) -> float:
    return float(wh.frame(
        f"select revenue_in_month from intermediate.{VALUE} where customer_key = "
        f"'{customer_key}' and month_start = '{MONTH_OF_LATE_CHANGES}'").revenue_in_month[0])


def churn_customers(wh: Warehouse) -> int:
    return int(wh.frame(f"select count(distinct customer_key) as n "
                        f"from intermediate.{CHURN}").n[0])


def test_next_day_equals_full_refresh(cfg, months: Months):
    night(months, DAY_1)  # the first build: every part
    night(months, DAY_2)
    # churn: every customer's rows of the months of the two as-of dates (the first of a month),
    # and every month of the customers whose history changed; the rest kept
    assert rebuilt(months, CHURN, "month") == ["2026-02-01", "2026-03-01"]
    assert len(rebuilt(months, CHURN, "customer")) < churn_customers(months)
    assert_equals_full_refresh(cfg, months, DAY_2)


def test_late_changes_to_an_earlier_month_are_rebuilt(cfg, months: Months):
    months.changed = late_changes(months, DAY_2)
    months.january = {why: january_revenue(months, key) for why, key in months.changed.items()}
    # the same night again: nothing else changed, so exactly what the late rows touch is rebuilt
    months.dbt("run", DAY_2, "--select", "fct_order_lines", "fct_orders", "fct_churn_events",
               VALUE, CHURN)
    after = {why: january_revenue(months, key) for why, key in months.changed.items()}
    assert after["cancelled"] < months.january["cancelled"]
    assert after["arrived"] > months.january["arrived"]
    # churn: the as-of month, and every month of the customers whose value rows changed
    assert rebuilt(months, CHURN, "month") == ["2026-03-01"]
    again = set(rebuilt(months, CHURN, "customer"))
    assert set(months.changed.values()) <= again and len(again) < churn_customers(months)
    assert_equals_full_refresh(cfg, months, DAY_2)


def test_rebuilding_an_earlier_date_gives_that_dates_state(cfg, months: Months):
    # the nightly path as of the day before: core rebuilt as of then, churn incrementally
    # (March dropped, the cancellation made on DAY_2 undone)
    months.dbt("run", DAY_1, "--select", f"+{CHURN}")
    for model in (VALUE, CHURN):
        ends = months.frame(f"select max(month_start) as m, max(period_end) as p "
                            f"from intermediate.{model}")
        assert (ends.m[0], ends.p[0]) == (date(2026, 2, 1), DAY_1), model
    assert rebuilt(months, CHURN, "month") == ["2026-02-01"]
    # the late order (dated and stamped before DAY_1) stays
    assert january_revenue(months, months.changed["cancelled"]) == months.january["cancelled"]
    assert january_revenue(months, months.changed["arrived"]) > months.january["arrived"]
    assert_equals_full_refresh(cfg, months, DAY_1)
