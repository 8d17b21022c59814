"""The metrics layer on the served warehouse: `crmwh metrics` (MetricFlow, logged in as
bi_reader) returns the marts' own numbers — each metric against the mart column it names in
docs/metrics.md, on the mart's grain — and a wrong name is one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support.cli import CRMWH, assert_one_clear_line

QUESTIONS = {
    "churn": "churn_rate, retention_rate by value_tier, month",
    "churn_all": "churn_rate by month",
    "revenue": "revenue by month",
    "service": "sla_rate, nps by month, channel, priority, ticket_type",
    "kpis": "customers, new_customers, lost_customer_rate, upgraded_customer_rate, "
            "average_net_profit by value_tier, month",
    "tiers": "value_share, net_profit by value_tier, month",
    "clv": "average_clv by value_tier",
}


def _env(served, cfg) -> dict[str, str]:
    """The served warehouse as the user's own Postgres: its DSN, the readers' passwords."""
    return {**os.environ, "CRM_WAREHOUSE_DSN": served.dsn,
            "CRM_BI_READER_PASSWORD": cfg.secrets["bi_reader"],
            "CRM_ANALYST_PASSWORD": cfg.secrets["analyst"]}


@pytest.fixture(scope="module")
def answers(served, cfg) -> dict[str, dict[tuple, dict]]:
    """Every question asked in one `crmwh metrics` call: per question, row key -> values."""
    done = subprocess.run([*CRMWH, "metrics", *QUESTIONS.values(), "--format", "json"],
                          capture_output=True, text=True, env=_env(served, cfg), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert cfg.secrets["bi_reader"] not in done.stdout + done.stderr
    out = {}
    for name, answer in zip(QUESTIONS, json.loads(done.stdout), strict=True):
        cols = answer["columns"]
        metrics = [m.strip() for m in QUESTIONS[name].split(" by ")[0].split(",")]
        keys = [c for c in cols if c not in metrics]
        out[name] = {tuple(str(row[cols.index(k)]) for k in keys):
                     {m: row[cols.index(m)] for m in metrics} for row in answer["rows"]}
    return out


def _same(got: float | None, want, places: int) -> bool:
    if want is None or got is None:
        return want is None and got is None
    # the mart rounds half away from zero, Python's round() to even: compare within its half unit
    return abs(float(got) - float(want)) <= 0.5 * 10 ** -places + 1e-12


def _check(answer: dict[tuple, dict], mart, keys: list[str],
           pairs: dict[str, tuple[str, int]]) -> None:
    """Each mart row's columns (``pairs``: metric -> (mart column, decimals it is rounded to))
    equal the metrics of the row with the same keys; the metrics have exactly the mart's rows."""
    want = {tuple(str(getattr(r, k)) for k in keys): r for r in mart.itertuples()}
    assert set(answer) == set(want) and want
    wrong = [(key, m, answer[key][m], getattr(row, col)) for key, row in want.items()
             for m, (col, places) in pairs.items()
             if not _same(answer[key][m], getattr(row, col), places)]
    assert not wrong, wrong[:10]


def test_churn_and_retention_by_tier_and_month_are_the_marts(answers, served):
    tiers = served.frame("""select month_start as month, segment as value_tier, churn_rate,
                                   retention_rate
                            from marts.mart_churn_monthly where breakdown = 'value_tier'""")
    _check(answers["churn"], tiers, ["month", "value_tier"],
           {"churn_rate": ("churn_rate", 6), "retention_rate": ("retention_rate", 6)})
    overall = served.frame("""select month_start as month, churn_rate
                              from marts.mart_churn_monthly where breakdown = 'all'""")
    _check(answers["churn_all"], overall, ["month"], {"churn_rate": ("churn_rate", 6)})


def test_revenue_by_month_is_the_sales_mart_rolled_up(answers, served):
    months = served.frame("""select date_trunc('month', order_date)::date as month,
                                    sum(net_revenue) as revenue
                             from marts.mart_sales_daily group by 1""")
    _check(answers["revenue"], months, ["month"], {"revenue": ("revenue", 4)})


def test_sla_rate_and_nps_are_the_service_marts(answers, served):
    rows = served.frame("""select month_start as month, channel, priority, ticket_type,
                                  first_response_sla_rate, nps
                           from marts.mart_service_monthly""")
    _check(answers["service"], rows, ["month", "channel", "priority", "ticket_type"],
           {"sla_rate": ("first_response_sla_rate", 6), "nps": ("nps", 2)})
    assert rows["first_response_sla_rate"].notna().any() and rows["nps"].notna().any()


def test_tier_kpis_value_share_and_net_profit_are_the_marts(answers, served):
    kpis = served.frame("select month_start as month, * from marts.mart_crm_kpis")
    _check(answers["kpis"], kpis, ["month", "value_tier"],
           {"customers": ("customers_at_end", 0), "new_customers": ("new_customers", 0),
            "lost_customer_rate": ("lost_customer_rate", 6),
            "upgraded_customer_rate": ("upgraded_customer_rate", 6),
            "average_net_profit": ("average_net_profit", 4)})
    assert sum(r["customers"] for r in answers["kpis"].values()) > 0
    tiers = served.frame("""select date_trunc('month', month_end)::date as month, value_tier,
                                   value_contribution_rate, value
                            from marts.mart_value_tiers""")
    _check(answers["tiers"], tiers, ["month", "value_tier"],
           {"value_share": ("value_contribution_rate", 10), "net_profit": ("value", 4)})
    by_month: dict[str, float] = {}
    for (month, _), row in answers["tiers"].items():
        by_month[month] = by_month.get(month, 0) + row["value_share"]
    assert all(round(total, 6) == 1 for total in by_month.values())  # DOMAIN §2: sums to one


def test_average_clv_by_tier_is_the_customer_value_mart(answers, served):
    clv = served.frame("""select value_tier, avg(clv_predicted) as average_clv
                          from marts.mart_customer_value group by 1""")
    assert clv["average_clv"].notna().any()
    _check(answers["clv"], clv, ["value_tier"], {"average_clv": ("average_clv", 6)})


def test_a_wrong_metric_or_dimension_is_one_line(answers, served, cfg):
    for question, words in (("churn_ratio by month", ["unknown metric", "churn_ratio"]),
                            ("revenue by region", ["region", "channel"])):
        done = subprocess.run([*CRMWH, "metrics", question], capture_output=True, text=True,
                              env=_env(served, cfg), timeout=300)
        assert_one_clear_line(done, *words)
