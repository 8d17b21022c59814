"""The core star on real landed data: dbt build green, identity resolution measured against the
generator's ground truth, incremental facts equal to a full refresh, and as-of rebuilds.

Runs dbt directly (the DAG path is covered by tests/e2e/test_pipeline_e2e.py) on a private
database, so the other modules' warehouses are untouched.
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

DAY_A = LAST_DAY - timedelta(days=5)
DAY_B = DAY_A + timedelta(days=1)
LATE_ORDER_STATUS = "cancelled"


class Star(Warehouse):
    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self.late: tuple[int, int] | None = None  # (order id, customer id) changed late


# private, not the shared served warehouse: other as-of dates, and the tests change raw
@pytest.fixture(scope="module")
def star(cfg, generated, service_up):
    dsn = fresh_database(cfg, "crm_star")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_WAREHOUSE_DSN", dsn)
        yield Star(dsn)
    drop_database(cfg, "crm_star")


def table(star: Star, name: str, order: str) -> pd.DataFrame:
    return star.frame(f"select * from {name} order by {order}")


def truth_frame(cfg) -> pd.DataFrame:
    gt = cfg.ground_truth_dir
    ident = pd.read_csv(gt / "identity.csv")
    tickets = pd.read_csv(gt / "service_tickets.csv")
    surveys = pd.read_csv(gt / "service_surveys.csv")
    return pd.concat([
        pd.DataFrame({"source_entity": "account", "source_id": ident["billing_account_id"],
                      "true_customer_id": ident["customer_id"]}),
        pd.DataFrame({"source_entity": "ticket", "source_id": tickets["ticket_id"].astype(str),
                      "true_customer_id": tickets["customer_id"]}),
        pd.DataFrame({"source_entity": "survey", "source_id": surveys["survey_id"].astype(str),
                      "true_customer_id": surveys["customer_id"]}),
    ])


def test_build_is_green_and_identity_resolution_meets_the_bar(star, cfg):
    star.land(DAY_A, "star")
    star.dbt("build", DAY_A)

    got = star.frame("select source_entity, source_id, sales_customer_id, is_matched "
                     "from core.bridge_customer_identity where source_system <> 'sales'")
    scored = got.merge(truth_frame(cfg), on=["source_entity", "source_id"], how="inner")
    assert len(scored) == len(got)  # every landed record has a true answer
    matched = scored[scored["is_matched"]]
    correct = (matched["sales_customer_id"] == matched["true_customer_id"]).sum()
    precision, recall = correct / len(matched), correct / len(scored)
    print(f"\nidentity resolution: {len(scored)} records, {len(matched)} matched, "
          f"precision {precision:.4f}, recall {recall:.4f}")
    for entity, part in scored.groupby("source_entity"):
        m = part[part["is_matched"]]
        ok = (m["sales_customer_id"] == m["true_customer_id"]).sum()
        print(f"  {entity}: {len(part)} records, precision {ok / len(m):.4f}, "
              f"recall {ok / len(part):.4f}")
    assert precision >= 0.995
    assert recall >= 0.98

    # what did not match is reported, with a reason
    unmatched = star.frame("select * from core.rpt_identity_unmatched")
    assert len(unmatched) == (~scored["is_matched"]).sum()
    assert unmatched["reason"].notna().all()


def inject_late_changes(star: Star, day: date) -> tuple[int, int]:
    """On `day`, an order placed well before is cancelled and a customer moves city: new
    versions landed in raw as the extractor would land them."""
    order_id = int(star.frame(
        "select order_id from core.fct_orders where status <> 'cancelled' and not is_deleted "
        f"and order_date < date '{day}' - 20 order by order_id limit 1")["order_id"][0])
    customer_id = int(star.frame(
        "select sales_customer_id from core.dim_customer where customer_origin = 'sales' "
        "and is_current order by sales_customer_id limit 1")["sales_customer_id"][0])
    at = f"{day} 12:00:00+00"
    with psycopg.connect(star.dsn, autocommit=True) as c:
        for table_, key, ident, change in (
            ("raw.sales__orders", "order_id", order_id, f"status = '{LATE_ORDER_STATUS}'"),
            ("raw.sales__customers", "customer_id", customer_id, "city = 'Late City'"),
        ):
            c.execute(f"create temp table late as select * from {table_} where {key} = %s "
                      "order by updated_at desc limit 1", (ident,))
            c.execute(f"update late set {change}, updated_at = %s, _batch_id = 'late-change', "
                      "_row_hash = decode(md5(random()::text), 'hex')", (at,))
            c.execute(f"insert into {table_} select * from late")
            c.execute("drop table late")
    return order_id, customer_id


FACTS = {
    "core.fct_order_lines": "order_line_id",
    "core.fct_receivables_daily": "billing_account_id, date_day",
}


def test_incremental_run_equals_full_refresh(star):
    before = {name: table(star, name, order) for name, order in FACTS.items()}
    order_id, _ = star.late = inject_late_changes(star, DAY_B)
    star.land(DAY_B, "star")
    star.dbt("run", DAY_B, "--select", "staging")  # the views snapshots read are as-of views
    star.dbt("snapshot", DAY_B)
    out = star.dbt("run", DAY_B)
    assert "incremental model core.fct_order_lines" in out
    incremental = {name: table(star, name, order) for name, order in FACTS.items()}

    star.dbt("run", DAY_B, "--full-refresh", "--select", "fct_order_lines",
             "fct_receivables_daily")
    full = {name: table(star, name, order) for name, order in FACTS.items()}
    for name in FACTS:
        pd.testing.assert_frame_equal(incremental[name], full[name], check_exact=True)
        assert len(full[name]) >= len(before[name])
    # the late cancellation of an old order reached the incremental fact
    lines = incremental["core.fct_order_lines"]
    assert set(lines[lines["order_id"] == order_id]["order_status"]) == {LATE_ORDER_STATUS}
    assert lines["order_date"].max() <= DAY_B


AS_OF_MODELS = {
    "core.fct_order_lines": "order_line_id",
    "core.fct_orders": "order_id",
    "core.dim_customer": "customer_version_key",
    "core.fct_invoices": "invoice_id",
    "core.fct_tickets": "ticket_id",
    "core.fct_contract_events": "contract_event_key",
}


def test_rebuilding_a_past_date_gives_that_dates_state(star, cfg):
    order_id, customer_id = star.late
    on_b = {name: table(star, name, order) for name, order in AS_OF_MODELS.items()}
    moved = on_b["core.dim_customer"].query("sales_customer_id == @customer_id")
    assert len(moved) == 2 and set(moved["city"]) >= {"Late City"}

    # a copy of the DAY_B warehouse rebuilt from scratch for DAY_A is the reference
    fresh_database(cfg, "crm_star_reference", template="crm_star")
    try:
        reference = Star(database.with_database(star.dsn, "crm_star_reference"))
        reference.dbt("run", DAY_A, "--full-refresh")
        star.dbt("run", DAY_A)  # the nightly (incremental) path
        for name, order in AS_OF_MODELS.items():
            pd.testing.assert_frame_equal(table(star, name, order), table(reference, name, order),
                                          check_exact=True, obj=name)
    finally:
        drop_database(cfg, "crm_star_reference")

    # and that state is DAY_A's: nothing dated later, no change made later
    lines = table(star, "core.fct_order_lines", "order_line_id")
    assert lines["order_date"].max() <= DAY_A
    assert lines["source_updated_at"].max() < pd.Timestamp(DAY_B, tz="UTC")
    assert LATE_ORDER_STATUS not in set(lines.query("order_id == @order_id")["order_status"])
    customer = table(star, "core.dim_customer", "customer_version_key").query(
        "sales_customer_id == @customer_id")
    assert len(customer) == 1 and customer["city"].iloc[0] != "Late City"
    assert customer["is_current"].all() and customer["valid_to"].isna().all()
    receivables = table(star, "core.fct_receivables_daily", "billing_account_id, date_day")
    assert receivables["date_day"].max() <= DAY_A
