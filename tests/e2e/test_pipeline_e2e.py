"""End to end: the real crm_nightly DAG through Airflow's dag.test() on the embedded Postgres.

The tests in this module run in order and share one warehouse: an initial load,
the next night (only the new day), a rerun (nothing twice), then a bad batch that
the quality gate stops before dbt, its fix, and a model failing inside dbt's build.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest

from tests.support import nightly_dag
from tests.support.customer_value import expected_customer_value
from tests.support.demo import LAST_DAY
from tests.support.value_tiers import tier_sizes

DAY1 = LAST_DAY - timedelta(days=2)
DAY2 = DAY1 + timedelta(days=1)
DAY3 = DAY2 + timedelta(days=1)


@pytest.fixture(scope="module")
def nightly(cfg, generated, service_up):
    return nightly_dag.load(cfg)


def run(dag, day: date):
    return dag.test(logical_date=datetime(day.year, day.month, day.day, tzinfo=UTC))


def states(dagrun) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}


def mart(conn) -> pd.DataFrame:
    cur = conn.execute("select * from marts.mart_customer_value")
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def test_initial_load_builds_marts_matching_hand_computation(nightly, conn, generated):
    dagrun = run(nightly, DAY1)
    st = states(dagrun)
    assert str(dagrun.state) == "success", st
    assert all(v == "success" for v in st.values()), st

    everyone = mart(conn)
    want = expected_customer_value(generated, DAY1)
    # billing accounts identity resolution could not match are customers of their own, with
    # no sales orders
    billing_only = everyone[everyone["sales_customer_id"].isna()]
    assert len(billing_only) == conn.execute(
        "select count(*) from core.bridge_customer_identity where match_rule = 'billing_only'"
    ).fetchone()[0]
    assert (billing_only["revenue"] == 0).all()
    got = everyone.dropna(subset=["sales_customer_id"])
    assert len(got) == len(want)
    assert set(everyone["as_of_date"].astype(str)) == {DAY1.isoformat()}
    got = got.set_index(got["sales_customer_id"].astype(int)).sort_index()
    assert np.allclose(got["revenue"].astype(float), want.loc[got.index, "revenue"], atol=0.01)
    assert np.allclose(got["gross_margin"].astype(float), want.loc[got.index, "margin"],
                       atol=0.01)
    assert (got["orders_count"].astype(int) == want.loc[got.index, "orders"]).all()
    # DOMAIN §2 value tiers: top 5 % key, next 15 % ordinary, the rest small
    n = len(everyone)
    tiers = everyone["value_tier"].value_counts()
    key, key_and_ordinary = tier_sizes(n)
    assert tiers["key"] == key
    assert tiers["key"] + tiers["ordinary"] == key_and_ordinary
    # ranked by current value (trailing-12-month net profit; recomputed from the core
    # facts in pandas by tests/integration/test_mart_value.py)
    ranked = everyone.assign(v=everyone["current_value"].astype(float)).sort_values(
        ["v", "customer_key"], ascending=[False, True])
    assert list(ranked["value_rank"]) == list(range(1, n + 1))
    assert set(ranked["customer_key"][: tiers["key"]]) == set(
        everyone["customer_key"][everyone["value_tier"] == "key"])
    assert float(everyone["value_share"].astype(float).sum()) == pytest.approx(1.0, abs=1e-6)

    # every batch reconciles and the run summary was written
    bad = conn.execute(
        """select batch_id from audit.load_batches
           where rows_extracted <> rows_loaded + rows_unchanged + rows_quarantined
                                   + rows_parked""").fetchall()
    assert bad == []
    summary = conn.execute("select status, mart_rows from audit.run_summary "
                           "where as_of_date = %s", (DAY1,)).fetchone()
    assert summary[0] == "success"
    assert summary[1]["marts.mart_customer_value"] == n


def test_next_night_processes_only_the_new_day(nightly, conn, generated):
    dagrun = run(nightly, DAY2)
    assert str(dagrun.state) == "success", states(dagrun)
    run_id = dagrun.run_id
    loaded = dict(conn.execute(
        "select entity, rows_loaded from audit.load_batches where run_id = %s and source = 'sales'",
        (run_id,)).fetchall())
    orders = generated.sales["orders"]
    lo, hi = np.datetime64(DAY2), np.datetime64(DAY2 + timedelta(days=1))
    new_orders = int(((orders["updated_at"] >= lo) & (orders["updated_at"] < hi)).sum())
    assert loaded["orders"] == new_orders
    got = mart(conn)
    assert set(got["as_of_date"].astype(str)) == {DAY2.isoformat()}
    want = expected_customer_value(generated, DAY2)
    got = got.dropna(subset=["sales_customer_id"])
    got = got.set_index(got["sales_customer_id"].astype(int)).sort_index()
    assert np.allclose(got["revenue"].astype(float), want.loc[got.index, "revenue"], atol=0.01)


def test_rerun_of_a_date_lands_nothing_twice(nightly, conn):
    before = conn.execute("select count(*) from raw.sales__orders").fetchone()[0]
    mart_before = mart(conn).sort_values("customer_key").reset_index(drop=True)
    dagrun = run(nightly, DAY2)
    assert str(dagrun.state) == "success", states(dagrun)
    landed = conn.execute(
        "select coalesce(sum(rows_loaded), 0) from audit.load_batches where run_id = %s",
        (dagrun.run_id,)).fetchone()[0]
    assert landed == 0
    assert conn.execute("select count(*) from raw.sales__orders").fetchone()[0] == before
    mart_after = mart(conn).sort_values("customer_key").reset_index(drop=True)
    # the same numbers; only the lineage column names the rerun's own (identical) model fit
    lineage = ["clv_model_run_id"]
    assert mart_after["clv_model_run_id"].dropna().str.contains(dagrun.run_id, regex=False).all()
    pd.testing.assert_frame_equal(mart_before.drop(columns=lineage),
                                  mart_after.drop(columns=lineage))


def test_bad_batch_fails_the_gate_and_stops_before_dbt(nightly, conn, cfg):
    noon = datetime(DAY3.year, DAY3.month, DAY3.day, 12, tzinfo=UTC)
    with psycopg.connect(cfg.sales_dsn, autocommit=True) as sales:
        sales.execute(
            """insert into orders (order_id, customer_id, sales_rep_id, ordered_at, channel,
                                   promotion_code, status, updated_at)
               values (999999, 1, 1, %s, 'tiktok', null, 'placed', %s)""", (noon, noon))
    dagrun = run(nightly, DAY3)
    st = states(dagrun)
    assert str(dagrun.state) == "failed"
    assert st["gate_sales"] == "failed"
    assert all(v != "success" for k, v in st.items() if k.startswith("dbt_")), st
    assert st["run_summary"] != "success"
    # marts still hold the last good as-of date
    assert set(mart(conn)["as_of_date"].astype(str)) == {DAY2.isoformat()}
    # the rejected batch left raw, its rows are in quarantine with the reason
    status, = conn.execute(
        """select status from audit.load_batches where run_id = %s and entity = 'orders'""",
        (dagrun.run_id,)).fetchone()
    assert status == "rejected"
    assert conn.execute("select count(*) from raw.sales__orders where order_id = 999999"
                        ).fetchone()[0] == 0
    reason, = conn.execute(
        """select reason from quarantine.rows where payload->>'order_id' = '999999'""").fetchone()
    assert "channel" in reason and "tiktok" in reason
    # a dq result names the failed check
    failed = conn.execute(
        """select check_name from audit.dq_results where batch_id like 'sales__orders%%'
           and status = 'fail' and severity = 'blocking'""").fetchall()
    assert any("channel" in c for (c,) in failed)


def test_rerun_after_the_fix_publishes_the_new_date(nightly, conn, cfg):
    fixed = datetime(DAY3.year, DAY3.month, DAY3.day, 13, tzinfo=UTC)
    with psycopg.connect(cfg.sales_dsn, autocommit=True) as sales:
        sales.execute("update orders set channel = 'web', updated_at = %s "
                      "where order_id = 999999", (fixed,))
    dagrun = run(nightly, DAY3)
    assert str(dagrun.state) == "success", states(dagrun)
    got = mart(conn)
    assert set(got["as_of_date"].astype(str)) == {DAY3.isoformat()}
    assert conn.execute("select channel from core.fct_orders where order_id = 999999"
                        ).fetchone()[0] == "web"


def test_a_failing_model_fails_its_own_task_and_publishes_nothing(nightly, conn, cfg):
    """dbt_core runs one ``dbt build`` and shows a task per model: when one model fails in
    that build, its own task fails, the models it does not feed still succeed, and nothing
    downstream runs: nothing is published (a rerun of the last date fails here)."""
    published = conn.execute("select count(*) from audit.mart_publications").fetchone()[0]
    conn.execute("""
        create function crm_test_fail_shipments() returns event_trigger language plpgsql as $$
        begin
          if exists (select 1 from pg_event_trigger_ddl_commands()
                     where object_identity like 'core.fct_shipments%') then
            raise exception 'injected failure of fct_shipments';
          end if;
        end $$;
        create event trigger fail_shipments on ddl_command_end
          execute function crm_test_fail_shipments();""")
    try:
        dagrun = run(nightly, DAY3)
    finally:
        conn.execute("drop event trigger fail_shipments; drop function crm_test_fail_shipments()")
    st = states(dagrun)
    assert str(dagrun.state) == "failed"
    assert st["dbt_core.dbt_producer_watcher"] == "failed"
    assert st["dbt_core.fct_shipments_run"] == "failed"
    assert st["dbt_core.fct_orders_run"] == "success"  # not fed by fct_shipments
    assert st["dbt_core.dbt_project_test"] == "upstream_failed"
    for task in ("fit_models", "prepare_marts", "publish_marts", "run_summary"):
        assert st[task] != "success", (task, st[task])
    assert not any(v == "success" for k, v in st.items() if k.startswith("dbt_marts.")), st
    assert conn.execute("select count(*) from audit.mart_publications").fetchone()[0] == published
