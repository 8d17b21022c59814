"""The customer sections of the report: churn and retention, value tiers, cohort retention and
the top churn reasons, each read from its published mart (DOMAIN §2, §4)."""

from __future__ import annotations

from datetime import date

import psycopg
from markupsafe import Markup

from crmwh.report import charts, formats
from crmwh.report.db import exists, rows
from crmwh.report.model import Section, Table
from crmwh.settings import dbt_vars


def churn_trend(conn: psycopg.Connection, as_of_date: date, months: int = 24) -> Section:
    s = Section("churn_trend", "Churn and retention, month by month")
    if not exists(conn, "marts.mart_churn_monthly"):
        s.missing = "marts.mart_churn_monthly is not built"
        return s
    found = rows(conn, """
        select month_start, churn_rate, retention_rate, customers_at_start, churned_customers,
               is_partial_month
        from marts.mart_churn_monthly
        where breakdown = 'all' and month_start <= %s and customers_at_start > 0
        order by month_start""", (as_of_date,))
    # churn is observable only once a customer's inactivity threshold or contract grace has
    # passed: the months before the first observed churn would show a false 0 %
    first = next((i for i, r in enumerate(found) if r[4] > 0), None)
    if first is None:
        s.missing = "no churn observed yet"
        return s
    observable = found[first:][-months:]
    labels = [r[0].strftime("%Y-%m") + ("*" if r[5] else "") for r in observable]
    churn = [float(r[1]) for r in observable]
    retention = [float(r[2]) for r in observable]
    s.facts = {"months": labels, "churn_rate": churn, "retention_rate": retention}
    # the headline reads the latest complete month (the month in progress has barely begun)
    i = len(churn) - 2 if observable[-1][5] and len(churn) > 1 else len(churn) - 1
    last, prev = churn[i], (churn[i - 1] if i > 0 else None)
    trend = ("no earlier month to compare" if prev is None else
             f"{'up' if last > prev else 'down' if last < prev else 'flat'} from "
             f"{formats.percent(prev)} the month before")
    s.note(Markup("Latest complete month {m}: churn <b>{c}</b> ({t}), retention {r}. "
                  "* = month in progress on the as-of date.").format(
        m=labels[i], c=formats.percent(last), t=trend, r=formats.percent(retention[i])))
    if first:
        v = dbt_vars()
        s.note(f"The series starts in {found[first][0]:%Y-%m}, the first month with an observed "
               "churn: a customer counts as churned only after its inactivity threshold "
               f"({v['churn_inactivity_floor_days']}-{v['churn_inactivity_cap_days']} days) or "
               f"its contract's {v['churn_contract_grace_days']}-day grace period has passed, so "
               f"the {first} months before could only show 0 %.")
    s.blocks.append(charts.line("churn_trend", labels, {"churn rate": churn}, axis="percent",
                                upper=1.0, y_label="churned / customers at start",
                                label="monthly churn rate"))
    s.blocks.append(charts.line("retention_trend", labels, {"retention rate": retention},
                                axis="percent", lower=None, upper=1.0,
                                y_label="retained / customers at start",
                                label="monthly retention rate", colors=(charts.GREEN,)))
    s.blocks.append(Table(
        ["month", "customers at start", "churned", "churn rate", "retention rate"],
        [[lab, formats.count(r[3]), formats.count(r[4]), formats.percent(r[1]),
          formats.percent(r[2])] for lab, r in zip(labels, observable, strict=True)][-12:],
        caption="The last twelve months"))
    return s


def value_tiers(conn: psycopg.Connection, as_of_date: date) -> Section:
    s = Section("value_tiers", "Value tiers and their share of value (DOMAIN §2: 5 / 15 / 80)")
    if not exists(conn, "marts.mart_value_tiers"):
        s.missing = "marts.mart_value_tiers is not built"
        return s
    found = rows(conn, """
        select value_tier, customers, customer_share, value_contribution_rate, value, revenue
        from marts.mart_value_tiers
        where month_end = (select max(month_end) from marts.mart_value_tiers
                           where period_end <= %s)
        order by tier_order""", (as_of_date,))
    if not found:
        s.missing = "no tiers for the as-of month"
        return s
    tiers = [r[0] for r in found]
    cust = [float(r[2]) for r in found]
    value = [float(r[3]) for r in found]
    s.facts = {"tiers": tiers, "customer_share": cust, "value_share": value}
    s.note("Value = net profit of the last 12 months (revenue − cost of goods − credit notes − "
           "cost to serve, DOMAIN §2); a tier's share of value = its value ÷ the value of all "
           "customers.")
    negative = [r[0] for r in found if float(r[4]) < 0]
    if negative:
        s.note(f"The {', '.join(negative)} tier's 12-month net profit is negative (its cost to "
               "serve and credit notes exceed its margin), so its share of value is below zero "
               "and the other tiers' shares add up to more than 100 %.", "warn")
    s.blocks.append(charts.bars("value_tiers", tiers,
                                {"share of customers": cust, "share of value": value},
                                axis="percent", y_label="share",
                                label="customer share and value share per tier"))
    s.blocks.append(Table(
        ["tier", "customers", "share of customers", "share of value",
         "net profit, 12 months", "revenue, 12 months"],
        [[r[0], formats.count(r[1]), formats.percent(r[2]), formats.percent(r[3]),
          formats.money(r[4]), formats.money(r[5])] for r in found]))
    return s


def cohort_heatmap(conn: psycopg.Connection, as_of_date: date, max_cohorts: int = 12,
                   max_months: int = 12) -> Section:
    s = Section("cohort_retention", "Cohort retention: share of each acquisition cohort still "
                                    "active, by months since acquisition")
    if not exists(conn, "marts.mart_cohort_retention"):
        s.missing = "marts.mart_cohort_retention is not built"
        return s
    found = rows(conn, """
        select cohort_month, months_since_acquisition, retention_rate
        from marts.mart_cohort_retention
        where cohort_month in (select distinct cohort_month from marts.mart_cohort_retention
                               where cohort_month <= %s order by cohort_month desc limit %s)
          and months_since_acquisition <= %s
        order by cohort_month, months_since_acquisition""", (as_of_date, max_cohorts, max_months))
    if not found:
        s.missing = "no cohorts yet"
        return s
    cohorts = sorted({r[0].strftime("%Y-%m") for r in found})
    months = [str(m) for m in sorted({r[1] for r in found})]
    cells = {(r[0].strftime("%Y-%m"), str(r[1])): float(r[2]) for r in found
             if r[2] is not None}
    s.facts = {"cells": cells}
    s.note("Each cell: the percent of the cohort's customers active at the end of that month; "
           "blank = not reached yet.")
    s.blocks.append(charts.heatmap("cohort_retention", cohorts, months, cells,
                                   label="cohort retention heatmap",
                                   x_label="months since acquisition",
                                   y_label="acquisition cohort",
                                   legend="still active (share of cohort)"))
    return s


def churn_reasons(conn: psycopg.Connection, as_of_date: date, top: int = 10) -> Section:
    s = Section("churn_reasons", "Top churn reasons of customers at risk")
    if not exists(conn, "marts.mart_customer_churn_risk"):
        s.missing = "marts.mart_customer_churn_risk is not built"
        return s
    found = rows(conn, """
        select reason, count(*) as customers
        from marts.mart_customer_churn_risk,
             lateral (values (reason_1), (reason_2), (reason_3)) as r(reason)
        where as_of_date = %s and reason is not null and risk_band in ('high', 'medium')
        group by reason
        order by customers desc, reason
        limit %s""", (as_of_date, top))
    if not found:
        s.missing = "no scored customer has a reason"
        return s
    models = [r[0] for r in rows(conn, """
        select distinct scored_by from marts.mart_customer_churn_risk
        where as_of_date = %s and scored_by is not null order by 1""", (as_of_date,))]
    s.facts = {"reasons": {r[0]: int(r[1]) for r in found}, "scored_by": models}
    s.note("How many customers in the high or medium risk band have each reason among their "
           "top three. unlikely_to_buy: the purchase model expects no order from the customer "
           "in the next 90 days."
           + (f" Risk scores by {', '.join(models)}, the model that predicted the warehouse's "
              "past churn best (docs/churn_model.md)." if models else ""))
    s.blocks.append(charts.hbars("churn_reasons", [r[0] for r in found],
                                 [float(r[1]) for r in found], axis="count",
                                 x_label="customers at risk", label="top churn reasons"))
    return s
