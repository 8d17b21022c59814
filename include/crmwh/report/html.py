"""The nightly report: one static HTML file per run with inline SVG charts.

No server and no JavaScript: open ``$CRM_HOME/reports/crm_nightly_<as-of>.html`` (or
``latest.html``) from disk. Sections, each read from a published mart or audit table:

* churn and retention trend   — ``marts.mart_churn_monthly``
* value tiers and value share — ``marts.mart_value_tiers`` (DOMAIN §2, 5 / 15 / 80)
* cohort retention heatmap    — ``marts.mart_cohort_retention``
* top churn reasons           — ``marts.mart_customer_churn_risk`` (reason_1..reason_3)
* data quality of the run     — ``audit.dq_results`` (and landing quarantine counts)

A section whose table is missing says so instead of failing the run (a warehouse part-way
through an upgrade still gets its report); :func:`missing_sections` lists them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path

import psycopg

from crmwh.report import charts
from crmwh.settings import Settings

log = logging.getLogger(__name__)

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:980px;color:#24292f}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #d0d7de;padding-bottom:.3rem} .sub{color:#57606a}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0} td,th{border:1px solid #d0d7de;
padding:.2rem .5rem;text-align:right} th{background:#f6f8fa} td.l,th.l{text-align:left}
.kpis{display:flex;gap:1rem;flex-wrap:wrap}.kpi{border:1px solid #d0d7de;border-radius:6px;
padding:.5rem 1rem}.kpi b{display:block;font-size:1.3rem}.ok{color:#1a7f37}.bad{color:#d1242f}
.missing{color:#9a6700;font-style:italic} svg{max-width:100%;height:auto}
"""


@dataclass
class Section:
    key: str
    title: str
    body: str = ""
    missing: str | None = None  # why the section could not be drawn
    facts: dict = field(default_factory=dict)

    def html(self) -> str:
        inner = (f'<p class="missing">Not available: {escape(self.missing)}</p>'
                 if self.missing else self.body)
        state = "missing" if self.missing else "ok"
        return (f'<section id="{self.key}" data-section="{self.key}" data-state="{state}">'
                f"<h2>{escape(self.title)}</h2>{inner}</section>")


def _exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0]


def _rows(conn: psycopg.Connection, sql: str, params: tuple = ()) -> list[tuple]:
    return conn.execute(sql, params).fetchall()


def _table(columns: list[str], rows: list[tuple], left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{escape(c)}</th>'
                   for i, c in enumerate(columns))
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = "" if v is None else (f"{v:,.4g}" if isinstance(v, float) else str(v))
            cells.append(f'<td class="{"l" if i < left else ""}">{escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def reflected_as_of(conn: psycopg.Connection) -> date | None:
    """The as-of date the published marts reflect (write-audit-publish's marker table, else
    the latest as-of date in mart_customer_value)."""
    for sql, table in (("select max(as_of_date) from marts.wap_published", "marts.wap_published"),
                       ("select max(as_of_date) from marts.mart_customer_value",
                        "marts.mart_customer_value")):
        if _exists(conn, table):
            value = conn.execute(sql).fetchone()[0]
            if value is not None:
                return value
    return None


# --- sections -------------------------------------------------------------------------------

def churn_trend(conn: psycopg.Connection, as_of_date: date, months: int = 24) -> Section:
    s = Section("churn_trend", "Churn and retention, month by month (last two years)")
    if not _exists(conn, "marts.mart_churn_monthly"):
        s.missing = "marts.mart_churn_monthly is not built"
        return s
    rows = _rows(conn, """
        select month_start, churn_rate, retention_rate, customers_at_start, churned_customers,
               is_partial_month
        from marts.mart_churn_monthly
        where breakdown = 'all' and month_start <= %s and customers_at_start > 0
        order by month_start""", (as_of_date,))
    rows = rows[-months:]
    if not rows:
        s.missing = "no months with customers yet"
        return s
    labels = [r[0].strftime("%Y-%m") + ("*" if r[5] else "") for r in rows]
    churn = [float(r[1]) for r in rows]
    retention = [float(r[2]) for r in rows]
    s.facts = {"months": labels, "churn_rate": churn, "retention_rate": retention}
    last, prev = churn[-1], (churn[-2] if len(churn) > 1 else None)
    trend = ("no earlier month to compare" if prev is None else
             f"{'up' if last > prev else 'down' if last < prev else 'flat'} from "
             f"{prev * 100:.1f} % the month before")
    s.body = (f'<p>Latest month {labels[-1]}: churn <b>{last * 100:.1f} %</b> ({trend}), '
              f"retention {retention[-1] * 100:.1f} %. (* = month in progress on the as-of "
              "date.)</p>"
              + charts.line_chart("churn_trend", labels, {"churn rate": churn},
                                  label="monthly churn rate")
              + charts.line_chart("retention_trend", labels, {"retention rate": retention},
                                  label="monthly retention rate")
              + _table(["month", "customers at start", "churned", "churn rate",
                        "retention rate"],
                       [(lab, r[3], r[4], f"{r[1] * 100:.1f} %", f"{r[2] * 100:.1f} %")
                        for lab, r in zip(labels, rows, strict=True)][-12:]))
    return s


def value_tiers(conn: psycopg.Connection, as_of_date: date) -> Section:
    s = Section("value_tiers", "Value tiers and their share of value (DOMAIN §2: 5 / 15 / 80)")
    if not _exists(conn, "marts.mart_value_tiers"):
        s.missing = "marts.mart_value_tiers is not built"
        return s
    rows = _rows(conn, """
        select value_tier, customers, customer_share, value_contribution_rate, value
        from marts.mart_value_tiers
        where month_end = (select max(month_end) from marts.mart_value_tiers
                           where period_end <= %s)
        order by tier_order""", (as_of_date,))
    if not rows:
        s.missing = "no tiers for the as-of month"
        return s
    tiers = [r[0] for r in rows]
    cust = [float(r[2]) for r in rows]
    value = [float(r[3]) for r in rows]
    s.facts = {"tiers": tiers, "customer_share": cust, "value_share": value}
    s.body = (charts.bar_chart("value_tiers", tiers,
                               {"share of customers": cust, "share of value": value},
                               label="customer share and value share per tier")
              + _table(["tier", "customers", "share of customers", "share of value",
                        "value (net profit, 12 months)"],
                       [(r[0], r[1], f"{float(r[2]) * 100:.1f} %", f"{float(r[3]) * 100:.1f} %",
                         float(r[4])) for r in rows]))
    return s


def cohort_heatmap(conn: psycopg.Connection, as_of_date: date, max_cohorts: int = 12,
                   max_months: int = 12) -> Section:
    s = Section("cohort_retention", "Cohort retention (share of each acquisition cohort still "
                                    "active, by months since acquisition)")
    if not _exists(conn, "marts.mart_cohort_retention"):
        s.missing = "marts.mart_cohort_retention is not built"
        return s
    rows = _rows(conn, """
        select cohort_month, months_since_acquisition, retention_rate
        from marts.mart_cohort_retention
        where cohort_month in (select distinct cohort_month from marts.mart_cohort_retention
                               where cohort_month <= %s order by cohort_month desc limit %s)
          and months_since_acquisition <= %s
        order by cohort_month, months_since_acquisition""", (as_of_date, max_cohorts, max_months))
    if not rows:
        s.missing = "no cohorts yet"
        return s
    cohorts = sorted({r[0].strftime("%Y-%m") for r in rows})
    months = [str(m) for m in sorted({r[1] for r in rows})]
    cells = {(r[0].strftime("%Y-%m"), str(r[1])): float(r[2]) for r in rows
             if r[2] is not None}
    s.facts = {"cells": cells}
    s.body = charts.heatmap("cohort_retention", cohorts, months, cells,
                            label="cohort retention heatmap")
    return s


def churn_reasons(conn: psycopg.Connection, as_of_date: date, top: int = 10) -> Section:
    s = Section("churn_reasons", "Top churn reasons of customers at risk")
    if not _exists(conn, "marts.mart_customer_churn_risk"):
        s.missing = "marts.mart_customer_churn_risk is not built"
        return s
    rows = _rows(conn, """
        select reason, count(*) as customers
        from marts.mart_customer_churn_risk,
             lateral (values (reason_1), (reason_2), (reason_3)) as r(reason)
        where as_of_date = %s and reason is not null and risk_band in ('high', 'medium')
        group by reason
        order by customers desc, reason
        limit %s""", (as_of_date, top))
    if not rows:
        s.missing = "no scored customer has a reason"
        return s
    s.facts = {"reasons": {r[0]: int(r[1]) for r in rows}}
    s.body = ("<p>How often each reason is among the top three reasons of customers in the "
              "high or medium risk band.</p>"
              + charts.hbar_chart("churn_reasons", [r[0] for r in rows],
                                  [float(r[1]) for r in rows], label="top churn reasons"))
    return s


def data_quality(conn: psycopg.Connection, as_of_date: date, run_id: str | None) -> Section:
    s = Section("data_quality", "Data quality of the run")
    parts = []
    if _exists(conn, "audit.dq_results"):
        if run_id is None:
            found = conn.execute("""select run_id from audit.dq_results where as_of_date = %s
                                    order by checked_at desc limit 1""", (as_of_date,)).fetchone()
            run_id = found[0] if found else None
        rows = _rows(conn, """
            select status, severity, count(*) from audit.dq_results
            where run_id = %s group by 1, 2 order by 1, 2""", (run_id,)) if run_id else []
        if rows:
            by_status: dict[str, int] = {}
            for status, _sev, n in rows:
                by_status[status] = by_status.get(status, 0) + int(n)
            blocking = sum(int(n) for st, sev, n in rows
                           if st in ("fail", "error") and sev == "blocking")
            verdict = ('<b class="bad">blocking failures</b>' if blocking
                       else '<b class="ok">no blocking failure</b>')
            s.facts = {"run_id": run_id, "by_status": by_status, "blocking": blocking}
            parts.append(f"<p>Run <code>{escape(run_id)}</code>: {verdict}; "
                         f"{sum(by_status.values())} checks.</p>")
            names = sorted(by_status)
            parts.append(charts.hbar_chart("dq_status", names,
                                           [float(by_status[n]) for n in names],
                                           label="checks by status"))
            bad = _rows(conn, """
                select check_name, object_name, severity, status, observed, expected
                from audit.dq_results where run_id = %s and status <> 'pass'
                order by severity = 'blocking' desc, check_name limit 25""", (run_id,))
            if bad:
                parts.append("<p>Checks not passing:</p>" + _table(
                    ["check", "object", "severity", "status", "observed", "expected"],
                    [tuple(None if v is None else str(v) for v in r) for r in bad], left=6))
    if _exists(conn, "audit.load_batches"):
        rows = _rows(conn, """
            select source || '.' || entity, sum(rows_loaded)::bigint,
                   sum(rows_quarantined)::bigint
            from audit.load_batches where as_of_date = %s and status = 'loaded'
            group by 1 order by 1""", (as_of_date,))
        if rows:
            s.facts["quarantined"] = {r[0]: int(r[2]) for r in rows}
            parts.append("<p>Landed on the as-of date (rows quarantined on landing):</p>"
                         + _table(["entity", "rows loaded", "rows quarantined"], rows))
    if not s.facts.get("by_status"):
        s.missing = (f"no audit.dq_results rows for {as_of_date}" if not parts
                     else None)
        if parts:
            parts.insert(0, '<p class="missing">No data-quality check results recorded for '
                            "this run (audit.dq_results).</p>")
    s.body = "".join(parts)
    return s


def sources(conn: psycopg.Connection, as_of_date: date, run_id: str | None) -> Section:
    """Which sources the run read, and the marts an absent source leaves partial."""
    s = Section("sources", "Sources of the run")
    row = None
    if _exists(conn, "audit.run_summary"):
        row = conn.execute(
            """select run_id, coalesce(absent_sources, '{}'), coalesce(partial_marts, '{}')
               from audit.run_summary where as_of_date = %s and (%s::text is null or run_id = %s)
               order by finished_at desc limit 1""", (as_of_date, run_id, run_id)).fetchone()
    absent, partial = (row[1], row[2]) if row else ({}, {})
    s.facts = {"absent_sources": absent, "partial_marts": partial}
    if not absent:
        s.body = '<p class="ok">No source was absent from this run: no mart is partial.</p>'
        return s
    s.body = ("<p>Absent sources (skipped, nothing landed from them this run):</p>"
              + _table(["source", "why absent"], sorted(absent.items()), left=2)
              + "<p>Partial marts (built without the absent sources' data):</p>"
              + _table(["mart", "missing sources"],
                       [(m, ", ".join(v)) for m, v in sorted(partial.items())], left=2))
    return s


# --- the page ------------------------------------------------------------------------------

def build(conn: psycopg.Connection, as_of_date: date, run_id: str | None = None
          ) -> tuple[str, list[Section]]:
    sections = [churn_trend(conn, as_of_date), value_tiers(conn, as_of_date),
                cohort_heatmap(conn, as_of_date), churn_reasons(conn, as_of_date),
                data_quality(conn, as_of_date, run_id), sources(conn, as_of_date, run_id)]
    kpis = []
    if _exists(conn, "marts.mart_customer_directory"):
        n, buyers, repeat = conn.execute(
            "select count(*), count(*) filter (where is_buyer), "
            "count(*) filter (where is_repeat_buyer) from marts.mart_customer_directory"
        ).fetchone()
        kpis = [("customers", n), ("buying", buyers), ("bought twice or more", repeat)]
    kpi_html = "".join(f'<div class="kpi">{escape(k)}<b>{v:,}</b></div>' for k, v in kpis)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>CRM nightly report {as_of_date}</title><style>{CSS}</style></head><body>"
            f"<h1>CRM nightly report</h1>"
            f'<p class="sub">As of <b data-as-of="{as_of_date}">{as_of_date}</b>'
            f"{f' · run {escape(run_id)}' if run_id else ''} · generated {generated}</p>"
            f'<div class="kpis">{kpi_html}</div>'
            + "".join(s.html() for s in sections) + "</body></html>")
    return page, sections


def missing_sections(sections: list[Section]) -> list[str]:
    return [f"{s.key}: {s.missing}" for s in sections if s.missing]


def write(conn: psycopg.Connection, cfg: Settings, as_of_date: date | None = None,
          out: str | Path | None = None, run_id: str | None = None
          ) -> tuple[Path, list[Section]]:
    """Render the report and write it (plus ``latest.html`` beside it); return its path and
    sections."""
    from crmwh.errors import CrmwhError

    published = reflected_as_of(conn)
    if published is None:
        raise CrmwhError("the marts are empty: nothing to report",
                         "run the pipeline first (`crmwh demo` or `crmwh run --date ...`)")
    if as_of_date is not None and as_of_date != published:
        raise CrmwhError(f"the marts hold as-of {published}, not {as_of_date}: a report for "
                         f"{as_of_date} would show {published}'s figures",
                         f"report without --date (as of {published}), or publish "
                         f"{as_of_date} first: `crmwh run --date {as_of_date}` (`--rewind` "
                         "for an earlier date)")
    as_of_date = published
    page, sections = build(conn, as_of_date, run_id)
    for line in missing_sections(sections):
        log.warning("report section missing: %s", line)
    path = Path(out) if out else cfg.home / "reports" / f"crm_nightly_{as_of_date}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    if out is None:
        (path.parent / "latest.html").write_text(page, encoding="utf-8")
    return path, sections


def nightly(as_of_date: date, run_id: str | None) -> dict:
    """The DAG's last step: make sure the readers can read the published marts (idempotent;
    write-audit-publish already granted them before its swap) and write the report. Returns
    what it wrote."""
    from crmwh import database, settings
    from crmwh.warehouse import roles

    cfg = settings.load()
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        roles.grant_marts(conn, "marts")
        path, sections = write(conn, cfg, as_of_date, run_id=run_id)
    return {"report": str(path), "missing_sections": missing_sections(sections)}
