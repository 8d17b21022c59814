"""The service desk's marts (DOMAIN §6) on the dbt-built warehouse, checked against the same
figures computed independently with pandas from the facts they summarise (core.fct_tickets,
core.fct_surveys, marts.mart_customer_value): volumes, the 24-hour first-response SLA rate,
median and 90th-percentile hours, overdue open tickets at each month's end, follow-up rate,
satisfaction C and NPS, root-cause shares and trend, agents, and service by value tier.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from crmwh.settings import dbt_vars

VARS = dbt_vars()
SLA = pd.Timedelta(hours=VARS["complaint_response_sla_hours"])
SLOW = pd.Timedelta(hours=VARS["service_slow_resolution_hours"])
WINDOW_DAYS = VARS["service_customer_window_days"]
GROUP = ["month_start", "channel", "priority", "ticket_type"]


@pytest.fixture(scope="module")
def tickets(served) -> pd.DataFrame:
    t = served.frame("select * from core.fct_tickets")
    for col in ("created_at", "first_response_at", "resolved_at"):
        t[col] = pd.to_datetime(t[col], utc=True)
    t["month_start"] = pd.to_datetime(t["created_on"]).dt.to_period("M").dt.start_time.dt.date
    t["channel"] = t["channel"].fillna("unknown")
    t["priority"] = t["priority"].fillna("unknown")
    t["agent"] = t["agent"].fillna("unassigned")
    t["root_cause"] = t["root_cause"].fillna("unknown")
    end = as_of_end(served)
    t["sla_due"] = t["first_response_at"].notna() | (end - t["created_at"] > SLA)
    t["within_sla"] = t["first_response_at"].notna() & (
        t["first_response_at"] - t["created_at"] <= SLA)
    t["first_h"] = (t["first_response_at"] - t["created_at"]).dt.total_seconds() / 3600
    t["resolution_h"] = (t["resolved_at"] - t["created_at"]).dt.total_seconds() / 3600
    surveys = served.frame("""select ticket_id, satisfaction_c, nps_points from core.fct_surveys
                              where ticket_id is not null""")
    return t, surveys


def as_of_end(served) -> pd.Timestamp:
    return pd.Timestamp(served.as_of_date + timedelta(days=1), tz="UTC")


def quantile(values: pd.Series, q: float) -> float | None:
    v = values.dropna().astype(float)
    return None if v.empty else round(float(np.quantile(v, q)), 2)  # linear = percentile_cont


def close(got, expected, abs_=1e-4) -> bool:
    if expected is None or (isinstance(expected, float) and np.isnan(expected)):
        return got is None or pd.isna(got)
    return got is not None and not pd.isna(got) and float(got) == pytest.approx(expected,
                                                                               abs=abs_)


def test_monthly_matches_the_tickets(served, tickets):
    t, surveys = tickets
    mart = served.frame("select * from marts.mart_service_monthly")
    assert set(mart["as_of_date"]) == {served.as_of_date}
    created = mart[mart["tickets"] > 0].set_index(GROUP).sort_index()
    groups = t.groupby(GROUP)
    assert list(created.index) == sorted(groups.groups)
    assert mart["tickets"].sum() == len(t)
    assert mart["complaints"].sum() == int(t["is_complaint"].sum()) > 0
    s = surveys.merge(t[["ticket_id", *GROUP]], on="ticket_id")
    checked = 0
    for key, g in groups:
        row = created.loc[key]
        assert row["tickets"] == len(g)
        due, within = int(g["sla_due"].sum()), int(g["within_sla"].sum())
        assert (row["sla_due_tickets"], row["responded_within_sla"]) == (due, within)
        assert close(row["first_response_sla_rate"], within / due if due else None, 1e-6)
        assert close(row["median_first_response_hours"], quantile(g["first_h"], 0.5), 0.011)
        assert close(row["p90_first_response_hours"], quantile(g["first_h"], 0.9), 0.011)
        assert close(row["median_resolution_hours"], quantile(g["resolution_h"], 0.5), 0.011)
        assert close(row["p90_resolution_hours"], quantile(g["resolution_h"], 0.9), 0.011)
        resolved = g[g["is_resolved"]]
        assert row["resolved_tickets"] == len(resolved)
        assert close(row["follow_up_rate"],
                     resolved["has_follow_up"].mean() if len(resolved) else None, 1e-6)
        gs = s[(s[GROUP] == pd.Series(key, index=GROUP)).all(axis=1)]
        assert row["surveys"] == len(gs)
        c = gs["satisfaction_c"].dropna().astype(float)
        assert close(row["avg_satisfaction_c"], c.mean() if len(c) else None, 1e-4)
        n = gs["nps_points"].dropna().astype(float)
        assert row["nps_answers"] == len(n)
        assert close(row["nps"], n.mean() if len(n) else None, 0.01)
        checked += 1
    assert checked > 50
    assert mart["surveys"].sum() > 0 and mart["followed_up_tickets"].sum() > 0
    assert 0 < mart["responded_within_sla"].sum() < mart["sla_due_tickets"].sum()


def test_overdue_open_tickets_at_each_month_end(served, tickets):
    t, _ = tickets
    mart = served.frame("select * from marts.mart_service_monthly")
    end = as_of_end(served)
    expected = {}
    for month in sorted(set(t["month_start"])):
        month_end = min(pd.Timestamp(month, tz="UTC") + pd.DateOffset(months=1), end)
        open_ = t[(t["created_at"] < month_end)
                  & (t["resolved_at"].isna() | (t["resolved_at"] >= month_end))
                  & (month_end - t["created_at"] > SLA)]
        for key, g in open_.groupby(["channel", "priority", "ticket_type"]):
            expected[(month, *key)] = (len(g), int(g["is_complaint"].sum()))
    got = {tuple(r[:4]): (r[4], r[5]) for r in mart[
        mart["overdue_open_tickets"] > 0][[*GROUP, "overdue_open_tickets",
                                           "overdue_open_complaints"]].itertuples(index=False)}
    assert got == expected and len(got) > 10
    # on the as-of date the month-end count is core.fct_tickets' own overdue flag
    last = mart[mart["month_start"] == mart["month_start"].max()]
    assert last["overdue_open_tickets"].sum() == t["is_overdue_open"].sum() > 0


def test_root_causes_share_and_trend(served, tickets):
    t, _ = tickets
    mart = served.frame("select * from marts.mart_service_root_causes").sort_values(
        ["root_cause", "month_start"])
    c = t[t["is_complaint"]]
    counts = c.groupby(["month_start", "root_cause"]).size()
    months = pd.period_range(min(c["month_start"]), served.as_of_date, freq="M")
    causes = sorted(set(c["root_cause"]))
    assert len(mart) == len(months) * len(causes)
    for cause, g in mart.groupby("root_cause"):
        n = [int(counts.get((m.start_time.date(), cause), 0)) for m in months]
        totals = [int(c[c["month_start"] == m.start_time.date()].shape[0]) for m in months]
        assert list(g["complaints"]) == n
        share = pd.Series([a / b if b else np.nan for a, b in zip(n, totals, strict=True)])
        for got, exp in zip(g["complaint_share"], share, strict=True):
            assert close(got, None if np.isnan(exp) else exp, 1e-6)
        prior = share.shift(1).rolling(3, min_periods=1).mean()
        for got, s_, p in zip(g["is_rising"], share, prior, strict=True):
            assert got is (None if pd.isna(p) or pd.isna(s_) else bool(s_ > p))
    full = mart[mart["month_complaints"] > 0].groupby("month_start")["complaint_share"].sum()
    assert all(abs(float(v) - 1) < 1e-4 for v in full)


def test_agents(served, tickets):
    t, surveys = tickets
    mart = served.frame("select * from marts.mart_service_agents").set_index(
        ["month_start", "agent"]).sort_index()
    s = surveys.merge(t[["ticket_id", "month_start", "agent"]], on="ticket_id")
    groups = t.groupby(["month_start", "agent"])
    assert list(mart.index) == sorted(groups.groups)
    for key, g in groups:
        row = mart.loc[key]
        assert (row["tickets"], row["complaints"]) == (len(g), int(g["is_complaint"].sum()))
        due = int(g["sla_due"].sum())
        assert close(row["first_response_sla_rate"],
                     g["within_sla"].sum() / due if due else None, 1e-6)
        gs = s[(s["month_start"] == key[0]) & (s["agent"] == key[1])]
        c = gs["satisfaction_c"].dropna().astype(float)
        assert close(row["avg_satisfaction_c"], c.mean() if len(c) else None, 1e-4)


def test_customers_by_value_tier(served, tickets):
    t, _ = tickets
    mart = served.frame("select * from marts.mart_service_customers").set_index("customer_key")
    value = served.frame("select customer_key, value_tier from marts.mart_customer_value"
                         ).set_index("customer_key")["value_tier"]
    end = as_of_end(served)
    w = t[t["customer_key"].notna()
          & (pd.to_datetime(t["created_on"]) > pd.Timestamp(served.as_of_date)
             - pd.Timedelta(days=WINDOW_DAYS))].copy()
    w["slow"] = (w["resolution_h"] > SLOW.total_seconds() / 3600) | (
        w["resolved_at"].isna() & (end - w["created_at"] > SLOW))
    per = w.groupby("customer_key")
    assert sorted(mart.index) == sorted(per.groups)
    for key, g in per:
        row = mart.loc[key]
        assert row["value_tier"] == value.get(key, "unranked")
        assert (row["tickets"], row["complaints"], row["slow_resolutions"],
                row["overdue_open_tickets"]) == (len(g), int(g["is_complaint"].sum()),
                                                 int(g["slow"].sum()),
                                                 int(g["is_overdue_open"].sum()))
        assert row["sla_missed_tickets"] == int((g["sla_due"] & ~g["within_sla"]).sum())
        assert close(row["median_first_response_hours"], quantile(g["first_h"], 0.5), 0.011)
    assert {"key", "ordinary", "small"} <= set(mart["value_tier"])
    assert mart["has_complaints_and_slow_resolution"].sum() > 0
