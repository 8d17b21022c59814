"""The managers' questions (DOMAIN §7) as ready SQL files (sql/questions), each run as written
on the dbt-built warehouse and checked against known answers computed with pandas from the
generator's output (tests/support/serving_truth.py), never by re-running SQL. (The files'
form: tests/unit/test_questions.py.)
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from crmwh.settings import PROJECT_ROOT, dbt_vars
from tests.support.serving_truth import LAPSED_DAYS, Truth
from tests.support.value_tiers import tier_sizes

QUESTIONS = PROJECT_ROOT / "sql" / "questions"


@pytest.fixture(scope="module")
def truth(generated, served) -> Truth:
    unmatched = served.frame("select source_id from core.rpt_identity_unmatched "
                             "where source_entity = 'ticket'")["source_id"]
    return Truth(generated, served.as_of_date, frozenset(int(t) for t in unmatched))


def ask(served, name: str, sql: str | None = None) -> pd.DataFrame:
    frame = served.frame(sql or (QUESTIONS / name).read_text())
    assert len(frame), f"{name} returned nothing"
    return frame


def keys(served) -> pd.Series:
    """customer_key -> sales customer id, to compare with the sources' ids."""
    d = served.frame("select customer_key, sales_customer_id from marts.mart_customer_directory")
    return d.set_index("customer_key")["sales_customer_id"]


def test_01_customers_buying(served, truth):
    row = ask(served, "01_customers_buying.sql").iloc[0]
    assert row["as_of_date"] == served.as_of_date
    assert row["buying_customers"] == truth.buying_customers()
    billing_only = served.frame("select count(*) as n from marts.mart_customer_directory "
                                "where customer_origin = 'billing'")["n"][0]
    assert row["customers"] == len(truth.customers) + billing_only
    assert float(row["buying_share"]) == pytest.approx(
        truth.buying_customers() / row["customers"], abs=1e-4)


def test_02_repeat_buyers(served, truth):
    row = ask(served, "02_repeat_buyers.sql").iloc[0]
    assert (row["repeat_buyers"], row["buying_customers"]) == (truth.repeat_buyers(),
                                                               truth.buying_customers())
    assert 0 < row["repeat_buyers"] < row["buying_customers"]


def test_03_bought_once_and_stopped(served, truth):
    row = ask(served, "03_bought_once_and_stopped.sql").iloc[0]
    assert row["bought_once_and_stopped"] == truth.bought_once_and_stopped() > 0
    assert float(row["avg_days_since_only_order"]) > LAPSED_DAYS


def test_04_never_contacted(served, truth):
    got = ask(served, "04_never_contacted.sql")
    assert dict(zip(got["acquisition_channel"], got["never_contacted"], strict=True)) == \
        truth.never_contacted_by_channel()
    assert list(got["never_contacted"]) == sorted(got["never_contacted"], reverse=True)


def test_05_most_valuable_customers(served, truth):
    got = ask(served, "05_most_valuable_customers.sql")
    assert len(got) == 20
    assert list(got["value_rank"]) == list(range(1, 21))
    expected = truth.net_profit_12m().sort_values(ascending=False).head(20)
    assert list(got["customer_key"].map(keys(served))) == list(expected.index)
    assert [float(v) for v in got["net_profit_12m"]] == pytest.approx(list(expected), abs=0.01)
    # the why adds up, and the top 5 % of live customers are the key tier
    assert all(got["revenue_12m"] >= got["gross_margin_12m"])
    key, _ = tier_sizes(len(served.frame("select 1 from marts.mart_customer_value")))
    assert list(got["value_tier"]) == ["key"] * min(key, 20) + ["ordinary"] * (20 - min(key, 20))


def test_06_channel_that_matters_most(served, truth):
    got = ask(served, "06_channel_that_matters_most.sql").set_index("channel")
    expected = truth.by_channel().sort_values("gross_margin", ascending=False)
    assert list(got.index) == list(expected.index)
    for col in ("net_revenue", "gross_margin"):
        assert [float(v) for v in got[col]] == pytest.approx(list(expected[col]), abs=0.01)
    assert list(got["buying_customers"]) == list(expected["buying_customers"])
    assert float(got["margin_share"].sum()) == pytest.approx(1, abs=1e-3)


@pytest.mark.parametrize("grain", ["month", "day", "year"])
def test_07_sales_report_any_year_month_or_day(served, truth, grain):
    """The file as written (by month), and the same SQL with the filters a BI tool sets on the
    mart's plain columns: another grain, a bounded period."""
    sql = (QUESTIONS / "07_sales_report.sql").read_text()
    default = "where grain = 'month'"
    assert default in sql
    got = ask(served, "07", sql.replace(default, f"where grain = '{grain}'"))
    got["customer_id"] = got["customer_key"].map(keys(served))
    got = got.set_index(["period_start", "customer_id", "department"]).sort_index()
    expected = truth.sales_report(grain).sort_index()
    assert list(got.index) == list(expected.index)
    for col in ("net_revenue", "gross_margin", "quantity", "lines_count"):
        assert [float(v) for v in got[col]] == pytest.approx(
            [float(v) for v in expected[col]], abs=0.01), col
    # a bounded period: one month only
    feb = ask(served, "07", sql.replace(default, default + " and period_start >= date "
                                        "'2026-02-01' and period_end <= date '2026-02-28'"))
    assert set(feb["period_start"]) == {pd.Timestamp("2026-02-01").date()}
    assert float(feb["net_revenue"].sum()) == pytest.approx(
        float(truth.sales_report("month").loc[pd.Timestamp("2026-02-01").date()][
            "net_revenue"].sum()), abs=0.01)


def test_08_is_churn_rising(served):
    """The churn numbers are the churn marts' (tested by their own suite against the
    generator's ground truth); this checks the question's trend logic independently, in
    pandas, on the complete months of the all-customers series."""
    got = ask(served, "08_is_churn_rising.sql").sort_values("month_start")
    base = served.frame("select * from marts.mart_churn_monthly where breakdown = 'all'")
    base = base[(~base["is_partial_month"]) & (base["customers_at_start"] > 0)].sort_values(
        "month_start").reset_index(drop=True)
    assert list(got["month_start"]) == list(base["month_start"])
    rate = base["churned_customers"] / base["customers_at_start"]
    assert [float(v) for v in got["churn_rate"]] == pytest.approx(list(rate), abs=1e-6)
    prior = rate.shift(1).rolling(3, min_periods=1).mean()
    for got_rising, r, p in zip(got["is_rising"], rate, prior, strict=True):
        assert got_rising is (None if pd.isna(p) else bool(r > p))
    assert got["churned_customers"].sum() > 0


# --- the service desk's questions (DOMAIN §6): known answers computed with pandas from the
# tickets fact (core.fct_tickets) the service marts summarise --------------------------------

SLA = pd.Timedelta(hours=dbt_vars()["complaint_response_sla_hours"])


@pytest.fixture(scope="module")
def tickets(served) -> pd.DataFrame:
    t = served.frame("select * from core.fct_tickets")
    for col in ("created_at", "first_response_at", "resolved_at"):
        t[col] = pd.to_datetime(t[col], utc=True)
    t["month_start"] = pd.to_datetime(t["created_on"]).dt.to_period("M").dt.start_time.dt.date
    end = pd.Timestamp(served.as_of_date + timedelta(days=1), tz="UTC")
    t["sla_due"] = t["first_response_at"].notna() | (end - t["created_at"] > SLA)
    t["within_sla"] = t["first_response_at"].notna() & (
        t["first_response_at"] - t["created_at"] <= SLA)
    return t


def test_09_complaints_answered_within_24h(served, tickets):
    got = ask(served, "09_complaints_answered_within_24h.sql")
    c = tickets[tickets["is_complaint"]]
    expected = c.groupby("month_start").agg(complaints=("ticket_id", "size"),
                                            due=("sla_due", "sum"), within=("within_sla", "sum"))
    expected = expected.sort_index(ascending=False)
    assert list(got["month_start"]) == list(expected.index)
    assert list(got["complaints"]) == list(expected["complaints"])
    assert list(got["answered_within_24h"]) == list(expected["within"])
    for rate, within, due in zip(got["sla_rate"], expected["within"], expected["due"],
                                 strict=True):
        assert (rate is None) if due == 0 else float(rate) == pytest.approx(within / due,
                                                                            abs=1e-4)
    assert list(got["is_partial_month"]).count(True) <= 1
    assert 0 < got["sla_rate"].dropna().astype(float).min() < 1


def test_10_overdue_tickets_to_escalate(served, tickets):
    got = ask(served, "10_overdue_tickets_to_escalate.sql")
    overdue = tickets[tickets["is_overdue_open"]]
    expected = overdue.groupby(["priority", "ticket_type"]).agg(
        n=("ticket_id", "size"), complaints=("is_complaint", "sum"))
    assert {(r.priority, r.ticket_type): (int(r.overdue_open_tickets),
                                          int(r.overdue_open_complaints))
            for r in got.itertuples()} == {k: (int(v.n), int(v.complaints))
                                           for k, v in expected.iterrows()}
    order = ["urgent", "high", "normal", "low"]
    ranks = [order.index(p) for p in got["priority"]]
    assert ranks == sorted(ranks)


def test_11_complaint_root_causes(served, tickets):
    got = ask(served, "11_complaint_root_causes.sql")
    month = got["month_start"].iloc[0]
    assert set(got["month_start"]) == {month}
    # the last complete month
    assert month == (pd.Timestamp(served.as_of_date + timedelta(days=1)).to_period("M")
                     - 1).start_time.date()
    c = tickets[tickets["is_complaint"] & (tickets["month_start"] == month)]
    counts = c["root_cause"].value_counts()
    assert dict(zip(got["root_cause"], got["complaints"], strict=True)) == {
        k: counts.get(k, 0) for k in got["root_cause"]}
    assert set(counts.index) <= set(got["root_cause"])
    assert [float(v) for v in got["complaint_share"]] == pytest.approx(
        [counts.get(k, 0) / len(c) for k in got["root_cause"]], abs=1e-6)
    assert list(got["complaints"]) == sorted(got["complaints"], reverse=True)


def test_12_are_key_customers_served_first(served, tickets):
    got = ask(served, "12_are_key_customers_served_first.sql").set_index("value_tier")
    window = dbt_vars()["service_customer_window_days"]
    t = tickets[tickets["customer_key"].notna() & (pd.to_datetime(tickets["created_on"])
                > pd.Timestamp(served.as_of_date) - pd.Timedelta(days=window))].copy()
    tiers = served.frame("select customer_key, value_tier from marts.mart_customer_value"
                         ).set_index("customer_key")["value_tier"]
    t["value_tier"] = t["customer_key"].map(tiers).fillna("unranked")
    per = t.groupby("value_tier").agg(customers=("customer_key", "nunique"),
                                      tickets=("ticket_id", "size"),
                                      complaints=("is_complaint", "sum"),
                                      due=("sla_due", "sum"))
    t["late"] = t["sla_due"] & ~t["within_sla"]
    late = t.groupby("value_tier")["late"].sum()
    assert list(got.index)[:3] == ["key", "ordinary", "small"]
    for tier, row in per.iterrows():
        assert (int(got.loc[tier, "customers"]), int(got.loc[tier, "tickets"]),
                int(got.loc[tier, "complaints"])) == (row.customers, row.tickets, row.complaints)
        assert float(got.loc[tier, "late_first_response_share"]) == pytest.approx(
            late[tier] / row.due, abs=1e-4)
