"""Customer value marts on the session's generated data, against an independent pandas
computation from the core facts.

Builds a private warehouse database: land the sources, a plain ``dbt build`` before any model
fit (the marts must build with NULL predictions on a fresh warehouse), then the nightly path
(``pipeline.fit_models`` between core and marts) and the marts again. The hand-built DOMAIN
examples are dbt unit tests (``_int_value__unit_tests.yml`` in
dbt_project/models/intermediate/value, ``_value__unit_tests.yml`` in models/marts/value), run by
the builds.

Not the shared served warehouse (tests/support/served.py): that one is built in the nightly's
order, so it never shows a fresh warehouse's marts, and the tests here fit at another as-of
date and add an as-of date to the history.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crmwh import pipeline
from crmwh.settings import dbt_vars
from tests.support import dbt_runner
from tests.support.databases import drop_database, fresh_database
from tests.support.databases import frame as read
from tests.support.demo import LAST_DAY, START
from tests.support.value_tiers import tier_sizes

AS_OF = LAST_DAY
VARS = dbt_vars()  # the project's business-rule parameters, read, never copied
TICKET_COST = VARS["ticket_cost_by_type"]
RATE = VARS["clv_discount_rate"]
SATISFACTION_DAYS = VARS["satisfaction_window_days"]
# DOMAIN §2 customer share: the market's target population (the worked example's 150,000)
TARGET_POPULATION = float(Decimal(str(VARS["customer_share_market_population"]))
                          * Decimal(str(VARS["customer_share_target_share"]))
                          * Decimal(str(VARS["customer_share_reachable_share"])))


class Warehouse:
    def __init__(self, dsn: str, target: Path) -> None:
        self.dsn = dsn
        self.target = target

    def dbt(self, command: str, *args: str, as_of_date: date = AS_OF) -> str:
        return dbt_runner.ok(self.dsn, command, *args, as_of_date=as_of_date, target=self.target)

    def frame(self, sql: str) -> pd.DataFrame:
        return read(self.dsn, sql)


# private, not the shared served warehouse: the marts are built before the fit here (NULL
# predictions), and the tests fit at another as-of date and add an as-of date to the history
@pytest.fixture(scope="module")
def wh(cfg, generated, service_up, tmp_path_factory):
    dsn = fresh_database(cfg, "crm_value")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_WAREHOUSE_DSN", dsn)
        for source in pipeline.SOURCES:  # landed and gated: staging reads passed batches
            pipeline.quality_gate(pipeline.extract_and_land(source, AS_OF, "value-test"),
                                  "value-test", source)
        yield Warehouse(dsn, tmp_path_factory.mktemp("dbt_target"))
    drop_database(cfg, "crm_value")


@pytest.fixture(scope="module")
def built(wh):
    """Plain build first (no fit yet), then the nightly order: fit, marts."""
    wh.dbt("build")
    before = wh.frame("select * from marts.mart_customer_value")
    fit = pipeline.fit_models(AS_OF, "value-test")
    wh.dbt("build", "--select", "path:models/marts")
    return {"before_fit": before, "fit": fit}


def money(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series).astype(float).round(4)


def numeric(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].map(lambda v: v.__class__.__name__ == "Decimal").any():
            out[col] = pd.to_numeric(out[col]).astype(float)
    return out


@pytest.fixture(scope="module")
def expected(wh, built) -> pd.DataFrame:
    """Customer value recomputed in pandas from the core facts, rule by rule (DOMAIN §2)."""
    customers = wh.frame(
        "select customer_key, created_at, is_current, is_deleted from core.dim_customer")
    orders = numeric(wh.frame(
        "select customer_key, order_date, net_revenue, cost_amount, is_cancelled, is_deleted "
        "from core.fct_orders"))
    credit = numeric(wh.frame("select customer_key, issued_on, amount from core.fct_credit_notes"))
    tickets = wh.frame("select customer_key, created_on, ticket_type from core.fct_tickets")
    surveys = numeric(wh.frame(
        "select customer_key, answered_on, perceived_score, expected_score from core.fct_surveys"))

    orders = orders[~orders.is_cancelled & ~orders.is_deleted & orders.customer_key.notna()
                    & (orders.order_date <= AS_OF)]
    live = customers[customers.is_current & ~customers.is_deleted].copy()
    live["created_on"] = pd.to_datetime(live.created_at, utc=True).dt.date
    live = live[(live.created_on <= AS_OF) | live.customer_key.isin(orders.customer_key)]
    credit = credit[credit.customer_key.notna() & (credit.issued_on <= AS_OF)]
    tickets = tickets[tickets.customer_key.notna() & (tickets.created_on <= AS_OF)].copy()
    tickets["cost"] = tickets.ticket_type.map(TICKET_COST).fillna(0.0)

    out = live[["customer_key", "created_on"]].set_index("customer_key")
    by = orders.groupby("customer_key")
    out["orders_count"] = by.size()
    out["revenue"] = by.net_revenue.sum()
    out["gross_margin"] = by.net_revenue.sum() - by.cost_amount.sum()
    out["credit_notes"] = credit.groupby("customer_key").amount.sum()
    out["cost_to_serve"] = tickets.groupby("customer_key").cost.sum()
    out["first_order_date"] = by.order_date.min()
    out = out.fillna({c: 0 for c in ("orders_count", "revenue", "gross_margin", "credit_notes",
                                      "cost_to_serve")})
    out["net_profit"] = out.gross_margin - out.credit_notes - out.cost_to_serve

    # trailing 12 months: the months from 11 months before the as-of month to the as-of date
    start_12m = (pd.Timestamp(AS_OF).to_period("M") - 11).to_timestamp().date()
    o12 = orders[orders.order_date >= start_12m]
    c12 = credit[credit.issued_on >= start_12m]
    t12 = tickets[tickets.created_on >= start_12m]
    current = (o12.groupby("customer_key").net_revenue.sum()
               - o12.groupby("customer_key").cost_amount.sum())
    out["current_value"] = (current.reindex(out.index).fillna(0)
                            - c12.groupby("customer_key").amount.sum().reindex(out.index).fillna(0)
                            - t12.groupby("customer_key").cost.sum().reindex(out.index).fillna(0))

    # historical CLV: yearly net profit from the first order, discounted (1 + r)^t
    start = out.first_order_date.where(out.first_order_date.notna(), out.created_on)
    events = pd.concat([
        orders.assign(d=orders.order_date, v=orders.net_revenue - orders.cost_amount),
        credit.assign(d=credit.issued_on, v=-credit.amount),
        tickets.assign(d=tickets.created_on, v=-tickets.cost),
    ])[["customer_key", "d", "v"]]
    events = events[events.customer_key.isin(out.index)]
    days = (pd.to_datetime(events.d) - pd.to_datetime(events.customer_key.map(start))).dt.days
    events["t"] = np.maximum(1, np.floor(days / 365.0) + 1)
    events["pv"] = events.v / (1 + RATE) ** events.t
    out["clv_historical"] = events.groupby("customer_key").pv.sum().reindex(out.index).fillna(0)

    # ranking and tiers (DOMAIN §2): by current value desc, ties by key
    out = out.reset_index().sort_values(["current_value", "customer_key"],
                                         ascending=[False, True], kind="mergesort")
    n = len(out)
    out["value_rank"] = np.arange(1, n + 1)
    key_n, ordinary_n = tier_sizes(n)
    out["value_tier"] = np.where(out.value_rank <= key_n, "key",
                                 np.where(out.value_rank <= ordinary_n, "ordinary", "small"))

    s = surveys[surveys.customer_key.notna() & (surveys.answered_on <= AS_OF)
                & (surveys.answered_on > AS_OF - timedelta(days=SATISFACTION_DAYS))]
    sums = s.groupby("customer_key")[["perceived_score", "expected_score"]].sum()
    out["satisfaction_c"] = out.customer_key.map(
        (sums.perceived_score / sums.expected_score).round(4))
    return out.set_index("customer_key")


def test_plain_build_on_a_fresh_warehouse_has_null_predictions(built):
    before = built["before_fit"]
    assert len(before) > 0
    assert before.potential_value.isna().all() and before.p_alive.isna().all()
    assert before.value_quadrant.isna().all()
    assert before.value_tier.notna().all()


def test_fit_runs_and_marts_join_its_predictions(wh, built):
    assert built["fit"]["clv"]["status"] == "fitted", built["fit"]
    mart = wh.frame("select * from marts.mart_customer_value")
    preds = wh.frame(f"select customer_key, clv_predicted, p_alive, frequency "
                     f"from ml.clv_predictions "
                     f"where as_of_date = '{AS_OF}'").set_index("customer_key")
    assert len(preds) > 0
    joined = mart.set_index("customer_key").join(preds.add_suffix("_ml"))
    scored = joined.clv_predicted_ml.notna()
    assert scored.sum() == len(preds)
    assert np.allclose(money(joined.potential_value[scored]),
                       joined.clv_predicted_ml[scored].round(4), atol=1e-3)
    assert (money(joined.potential_value[~scored]) == 0).all()  # never ordered: no potential
    repeat = scored & (joined.frequency_ml > 0)
    assert np.allclose(joined.p_alive[repeat], joined.p_alive_ml[repeat])
    # a one-time buyer is never shown as certainly alive (BG/NBD's 1 is no evidence)
    assert joined.p_alive[scored & (joined.frequency_ml == 0)].isna().all()
    assert mart.value_quadrant.notna().all()
    runs = wh.frame(f"select model, status, converged from audit.model_runs "
                    f"where as_of_date = '{AS_OF}' and model in ('bgnbd', 'gamma_gamma')")
    assert set(runs.model) == {"bgnbd", "gamma_gamma"} and set(runs.status) == {"fitted"}


def test_fit_with_too_little_history_is_recorded_as_skipped(wh, built):
    early = START - timedelta(days=400)  # before almost every order: too few repeat buyers
    result = pipeline.fit_models(early, "value-early")
    assert result["clv"]["status"] == "skipped"
    assert "too few repeat buyers" in result["clv"]["reason"]
    runs = wh.frame(f"select status, metrics from audit.model_runs where as_of_date = '{early}' "
                    "and model in ('bgnbd', 'gamma_gamma')")
    assert list(runs.status) == ["skipped", "skipped"]
    assert wh.frame(f"select count(*) as n from ml.clv_predictions "
                    f"where as_of_date = '{early}'").n[0] == 0


def test_customer_value_agrees_with_pandas(wh, expected):
    mart = wh.frame("select * from marts.mart_customer_value").set_index("customer_key")
    assert set(mart.index) == set(expected.index)
    assert (mart.as_of_date == AS_OF).all()
    exp = expected.loc[mart.index]
    for col in ("revenue", "gross_margin", "credit_notes", "cost_to_serve", "net_profit",
                "current_value", "clv_historical"):
        assert np.allclose(money(mart[col]), exp[col].astype(float).round(4), atol=0.01), col
    assert (mart.orders_count == exp.orders_count.astype(int)).all()
    assert (mart.value_rank == exp.value_rank).all()
    assert (mart.value_tier == exp.value_tier).all()
    c = pd.to_numeric(mart.satisfaction_c).astype(float)
    assert np.allclose(c.fillna(-1), exp.satisfaction_c.astype(float).fillna(-1), atol=1e-4)
    klass = np.where(c > 1, "exceeded", np.where(c == 1, "acceptable", "dissatisfied"))
    has = c.notna()
    assert (mart.satisfaction_class[has] == klass[has]).all()
    # the tiers hold ceil(5 %) and the next 15 % of customers; key value share is the biggest
    n = len(mart)
    assert (mart.value_tier == "key").sum() == tier_sizes(n)[0]


def test_value_tiers_and_concentration_agree_with_pandas(wh, expected):
    tiers = wh.frame("select * from marts.mart_value_tiers where month_end = "
                     "(select max(month_end) from marts.mart_value_tiers)").set_index("value_tier")
    total = expected.current_value.sum()
    for tier, rows in expected.groupby("value_tier"):
        assert tiers.customers[tier] == len(rows)
        assert np.isclose(float(tiers.value[tier]), rows.current_value.sum(), atol=0.01)
        assert np.isclose(float(tiers.value_contribution_rate[tier]),
                          rows.current_value.sum() / total, atol=1e-8)
    assert np.isclose(float(tiers.value_contribution_rate.sum()), 1.0, atol=1e-8)

    # concentration per month on the month's own revenue: top-5 share and HHI (DOMAIN §2)
    orders = numeric(wh.frame(
        "select customer_key, order_date, net_revenue from core.fct_orders "
        f"where not is_cancelled and not is_deleted and order_date <= '{AS_OF}'"))
    orders = orders[orders.customer_key.isin(expected.index)]
    orders["month_end"] = pd.to_datetime(orders.order_date).dt.to_period("M").dt.to_timestamp(
        how="end").dt.date
    conc = wh.frame("select * from marts.mart_concentration").set_index("month_end")
    checked = 0
    for month_end, rows in orders.groupby("month_end"):
        revenue = rows.groupby("customer_key").net_revenue.sum()
        revenue = revenue[revenue > 0]
        shares = revenue / revenue.sum()
        assert np.isclose(float(conc.hhi[month_end]), (shares ** 2).sum(), atol=1e-8)
        assert np.isclose(float(conc.top5_share[month_end]),
                          shares.sort_values(ascending=False).head(5).sum(), atol=1e-8)
        checked += 1
    assert checked >= 2


def test_profitability_by_size_adds_up(wh, expected):
    bands = wh.frame("select * from marts.mart_profitability_by_size")
    assert bands.customers.sum() == len(expected)
    assert np.isclose(float(pd.to_numeric(bands.net_profit).sum()),
                      expected.current_value.sum(), atol=0.01)


def test_history_keeps_each_as_of_date(wh, built):
    earlier = AS_OF - timedelta(days=7)
    wh.dbt("run", "--select", "int_customer_value__monthly", "mart_customer_value_history",
           as_of_date=earlier)
    history = wh.frame("select as_of_date, count(*) as n from marts.mart_customer_value_history "
                       "group by 1 order by 1")
    assert list(history.as_of_date) == [earlier, AS_OF]
    # mart_customer_value shows the latest as-of date only
    wh.dbt("run", "--select", "int_customer_value__monthly", "mart_customer_value")
    latest = wh.frame("select distinct as_of_date from marts.mart_customer_value")
    assert list(latest.as_of_date) == [AS_OF]


def test_customer_share_worked_example_runs_in_the_build(wh, built):
    out = wh.dbt("test", "--select", "assert_customer_share_worked_example")
    assert "PASS assert_customer_share_worked_example" in out and "ERROR=0" in out, out
    share = wh.frame("select * from marts.mart_customer_share")
    assert float(share.target_population[0]) == TARGET_POPULATION
    assert np.isclose(float(share.customer_share[0]),
                      share.captured_customers[0] / TARGET_POPULATION, atol=1e-9)
