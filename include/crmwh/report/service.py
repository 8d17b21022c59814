"""The service desk's section (DOMAIN §6, from marts/service) and the identity-resolution
section (DOMAIN §1: matched share by rule, what could not be matched and why)."""

from __future__ import annotations

from datetime import date

import psycopg
from markupsafe import Markup

from crmwh.report import charts, formats
from crmwh.report.db import exists, rows
from crmwh.report.model import Section, Table
from crmwh.settings import dbt_vars


def service(conn: psycopg.Connection, as_of_date: date, months: int = 24) -> Section:
    s = Section("service", "Service desk: first response, escalations, complaints (DOMAIN §6)")
    needed = ("marts.mart_service_monthly", "marts.mart_service_root_causes",
              "marts.mart_service_customers")
    absent = [t for t in needed if not exists(conn, t)]
    if absent:
        s.missing = f"{absent[0]} is not built"
        return s
    monthly = rows(conn, """
        select month_start, bool_or(is_partial_month), sum(tickets), sum(complaints),
               sum(responded_within_sla) / nullif(sum(sla_due_tickets), 0)::numeric,
               sum(responded_within_sla) filter (where ticket_type = 'complaint')
                 / nullif(sum(sla_due_tickets) filter (where ticket_type = 'complaint'), 0)
                   ::numeric,
               sum(overdue_open_tickets), sum(overdue_open_complaints),
               sum(followed_up_tickets) / nullif(sum(resolved_tickets), 0)::numeric,
               sum(nps * nps_answers) / nullif(sum(nps_answers), 0)
        from marts.mart_service_monthly
        where month_start <= %s
        group by month_start order by month_start""", (as_of_date,))[-months:]
    if not monthly:
        s.missing = "no tickets yet"
        return s
    sla_h = dbt_vars()["complaint_response_sla_hours"]
    labels = [r[0].strftime("%Y-%m") + ("*" if r[1] else "") for r in monthly]
    last = monthly[-1]
    s.facts = {"months": labels, "complaint_sla_rate": [_f(r[5]) for r in monthly],
               "overdue_open": int(last[6])}
    s.note(Markup("On the as-of date <b>{o}</b> tickets are open beyond the {h}-hour SLA "
                  "({c} of them complaints): they escalate.").format(
        o=formats.count(last[6]), c=formats.count(last[7]), h=sla_h))
    rated = [(lab, r) for lab, r in zip(labels, monthly, strict=True) if r[5] is not None]
    if rated:
        s.note(Markup("Complaints answered within {h} h in {m}: <b>{r}</b> (the latest month "
                      "with complaints past their {h} hours; * = month in progress).").format(
            h=sla_h, m=rated[-1][0], r=formats.percent(rated[-1][1][5])))
    s.blocks.append(charts.line(
        "service_sla", labels, {"complaints": [_f(r[5]) for r in monthly],
                                "all tickets": [_f(r[4]) for r in monthly]},
        axis="percent", upper=1.0, y_label=f"answered within {sla_h} h",
        label="first-response SLA rate per month"))
    s.blocks.append(charts.line(
        "service_overdue", labels, {"overdue open tickets": [float(r[6]) for r in monthly],
                                    "of them complaints": [float(r[7]) for r in monthly]},
        axis="count", y_label="open beyond the SLA at month end",
        colors=(charts.RED, charts.AMBER), label="overdue open tickets at each month's end"))
    causes = rows(conn, """
        select root_cause, complaints, complaint_share, share_change_vs_previous_month,
               is_rising, month_start
        from marts.mart_service_root_causes
        where month_start = (select max(month_start) from marts.mart_service_root_causes
                             where not is_partial_month and month_complaints > 0)
        order by complaints desc, root_cause""")
    if causes:
        month = causes[0][5].strftime("%Y-%m")
        s.blocks.append(charts.hbars(
            "complaint_root_causes", [r[0] for r in causes], [float(r[2] or 0) for r in causes],
            axis="percent", x_label=f"share of the complaints of {month}",
            label="complaint root causes"))
        s.blocks.append(Table(
            ["root cause", "complaints", "share", "change vs month before", "rising"],
            [[r[0], formats.count(r[1]), formats.percent(r[2]),
              _signed_points(r[3]), {True: "yes", False: "no"}.get(r[4], "")] for r in causes],
            caption=f"Complaint root causes, {month} (rising = share above the mean of the "
                    "three months before)"))
    tiers = rows(conn, """
        select value_tier, count(*), sum(tickets), sum(complaints),
               sum(sla_missed_tickets) / nullif(sum(sla_due_tickets), 0)::numeric,
               sum(slow_resolutions) / nullif(sum(tickets), 0)::numeric,
               percentile_cont(0.5) within group (order by median_first_response_hours)
        from marts.mart_service_customers
        group by value_tier
        order by case value_tier when 'key' then 1 when 'ordinary' then 2 when 'small' then 3
                 else 4 end""")
    s.blocks.append(Table(
        ["value tier", "customers with tickets", "tickets", "complaints",
         f"answered after {sla_h} h", "slow resolutions", "median first response"],
        [[r[0], formats.count(r[1]), formats.count(r[2]), formats.count(r[3]),
          formats.percent(r[4]), formats.percent(r[5]), formats.hours(r[6])] for r in tiers],
        caption="Are key customers served first? Service by value tier (DOMAIN §2), last "
                f"{dbt_vars()['service_customer_window_days']} days"))
    s.blocks.append(Table(
        ["month", "tickets", "complaints", "answered within SLA", "follow-up rate", "NPS"],
        [[lab, formats.count(r[2]), formats.count(r[3]), formats.percent(r[4]),
          formats.percent(r[8]), formats.score(r[9], 1)]
         for lab, r in zip(labels, monthly, strict=True)][-6:],
        caption="The last six months (follow-up rate: resolved tickets with a follow-up call)"))
    return s


def identity(conn: psycopg.Connection) -> Section:
    s = Section("identity", "Identity resolution: who the billing and service records are "
                            "(DOMAIN §1)")
    if not exists(conn, "core.bridge_customer_identity"):
        s.missing = "core.bridge_customer_identity is not built"
        return s
    found = rows(conn, """
        select match_rule, count(*) from core.bridge_customer_identity
        where source_system <> 'sales' group by match_rule order by count(*) desc, match_rule""")
    total = sum(int(r[1]) for r in found)
    if not total:
        s.missing = "no billing or service records yet"
        return s
    shares = {r[0]: int(r[1]) / total for r in found}
    unmatched = int(dict(found).get("unmatched", 0))
    s.facts = {"shares": shares, "unmatched": unmatched}
    s.note(Markup("{n} billing and service records: <b>{m}</b> matched to a sales customer, "
                  "<b>{u}</b> unmatched (no customer; their tickets and surveys count for "
                  "nobody). billing_only = a billing account no sales customer shares an "
                  "identifier with, kept as a customer of its own.").format(
        n=formats.count(total), m=formats.percent(1 - shares.get("unmatched", 0)
                                                 - shares.get("billing_only", 0)),
        u=formats.count(unmatched)))
    s.blocks.append(charts.hbars("identity_match_rules", list(shares), list(shares.values()),
                                 axis="percent", x_label="share of billing and service records",
                                 label="records by match rule"))
    if exists(conn, "core.rpt_identity_unmatched"):
        reasons = rows(conn, """
            select reason, source_system || '.' || source_entity, count(*)
            from core.rpt_identity_unmatched group by 1, 2 order by 3 desc, 1, 2 limit 10""")
        if reasons:
            s.blocks.append(Table(["reason", "records", "count"],
                                  [[r[0], r[1], formats.count(r[2])] for r in reasons], left=2,
                                  caption="Top reasons a record matched nobody"))
    return s


def _f(value) -> float | None:
    return None if value is None else float(value)


def _signed_points(value) -> str:
    return "" if value is None else f"{float(value) * 100:+.1f} pts"
