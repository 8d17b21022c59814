"""The nightly HTML report, rendered on the dbt-built warehouse with the real churn,
value and data-quality tables: every chart is present and carries the marts' numbers; a
blocking data-quality failure shows; a missing mart is reported, not fatal.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import pytest

from crmwh import database
from crmwh.report import html as html_report
from tests.support import rendering
from tests.support.value_tiers import KEY_SHARE

SECTIONS = ("churn_trend", "value_tiers", "cohort_retention", "churn_reasons", "service",
            "identity", "data_quality", "sources")
CHARTS = {"churn_trend", "retention_trend", "value_tiers", "cohort_retention", "churn_reasons",
          "service_sla", "service_overdue", "complaint_root_causes", "identity_match_rules",
          "dq_status"}


class Marks(HTMLParser):
    """Sections, charts (figure[data-chart]) and the numbers each chart draws (its marks:
    elements with data-value), and the links of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, list[dict]] = {}
        self.sections: dict[str, str] = {}
        self.order: list[str] = []
        self.scripts = 0
        self.links: list[str] = []
        self._chart: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "a":
            self.links.append(a.get("href", ""))
        if tag == "section":
            self.sections[a["data-section"]] = a["data-state"]
            self.order.append(a["data-section"])
        if tag == "figure" and "data-chart" in a:
            self._chart = a["data-chart"]
            self.charts[self._chart] = []
        elif self._chart and "data-value" in a:
            self.charts[self._chart].append(a)

    def handle_endtag(self, tag):
        if tag == "figure":
            self._chart = None


def parse(html: str) -> Marks:
    marks = Marks()
    marks.feed(html)
    return marks


@pytest.fixture(scope="module")
def written(served, cfg):
    """The report of the served warehouse, written where a nightly writes it."""
    with database.connect(served.dsn) as conn:
        return html_report.write(conn, cfg, served.as_of_date, run_id=served.run_id)


@pytest.fixture(scope="module")
def report(written):
    path, sections = written
    html = path.read_text(encoding="utf-8")
    return html, parse(html), sections


def test_every_section_is_drawn_from_real_marts(report):
    html, marks, sections = report
    assert html_report.missing_sections(sections) == []
    assert marks.sections == {k: "ok" for k in SECTIONS}
    assert set(marks.charts) == CHARTS
    assert all(marks.charts[c] for c in marks.charts), "a chart without marks"
    # static and self-contained: no script, nothing fetched from anywhere
    assert marks.scripts == 0
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html
    # numbers as people read them
    assert not re.search(r"\d[eE][+-]\d", html) and "NaN" not in html and ">nan<" not in html


def test_the_report_renders_in_chromium(written, cfg):
    """Headless Chromium lays the page out: every section and chart drawn, no two tick labels
    of an axis overlapping, no e+ notation, no NaN; the screenshot is kept as a CI artifact
    ($CRM_TEST_ARTIFACTS, else the test home's artifacts/); the page stays under 2 MB."""
    path, _ = written
    artifacts = Path(os.environ.get("CRM_TEST_ARTIFACTS") or cfg.home / "artifacts")
    png = rendering.screenshot(path, artifacts / "nightly_report.png")
    print(f"report screenshot: {png}")
    page = rendering.measure(path)
    assert page.sections == {k: "ok" for k in SECTIONS}
    assert set(page.charts) == CHARTS
    assert page.charts["churn_trend"]["axes_1x"] >= 4  # months labelled, not all dropped
    assert rendering.problems(path, page) == []
    assert path.stat().st_size < 2_000_000


def test_churn_and_retention_trend_match_the_churn_mart(report, served):
    _, marks, _ = report
    mart = served.frame("""select to_char(month_start, 'YYYY-MM') as month, churn_rate,
                                  retention_rate, is_partial_month
                           from marts.mart_churn_monthly
                           where breakdown = 'all' and customers_at_start > 0
                           order by month_start""")
    # the series starts at the first month with an observed churn (none could be seen before)
    first = mart.index[mart["churn_rate"].astype(float) > 0][0]
    assert first > 0, "the first months cannot show churn: they are left out"
    mart = mart.loc[first:].tail(24)
    labels = [m + ("*" if p else "") for m, p in zip(mart["month"], mart["is_partial_month"],
                                                     strict=True)]
    churn = marks.charts["churn_trend"]
    assert [m["data-x"] for m in churn] == labels
    assert [float(m["data-value"]) for m in churn] == pytest.approx(
        [float(v) for v in mart["churn_rate"]], abs=1e-6)
    retention = marks.charts["retention_trend"]
    assert [float(m["data-value"]) for m in retention] == pytest.approx(
        [1 - float(v) for v in mart["churn_rate"]], abs=1e-6)
    assert float(churn[0]["data-value"]) > 0  # starts where churn is observable


def test_value_tiers_show_customer_and_value_share(report, served):
    _, marks, _ = report
    bars = marks.charts["value_tiers"]
    by = {(b["data-series"], b["data-x"]): float(b["data-value"]) for b in bars}
    mart = served.frame("""select value_tier, customer_share, value_contribution_rate
                           from marts.mart_value_tiers
                           where month_end = (select max(month_end) from marts.mart_value_tiers)""")
    assert len(bars) == 2 * len(mart) == 6
    for row in mart.itertuples():
        assert by[("share of customers", row.value_tier)] == pytest.approx(
            float(row.customer_share), abs=1e-6)
        assert by[("share of value", row.value_tier)] == pytest.approx(
            float(row.value_contribution_rate), abs=1e-6)
    # DOMAIN §2: about 5 % of customers are key, and value shares add up to the whole
    assert by[("share of customers", "key")] == pytest.approx(float(KEY_SHARE), abs=0.01)
    assert sum(v for (s, _), v in by.items() if s == "share of value") == pytest.approx(1,
                                                                                   abs=1e-3)
    # the key tier brings far more than its head count
    assert by[("share of value", "key")] > 3 * by[("share of customers", "key")]


def test_cohort_heatmap_cells_match_the_cohort_mart(report, served):
    _, marks, _ = report
    cells = {(c["data-row"], c["data-col"]): float(c["data-value"])
             for c in marks.charts["cohort_retention"]}
    mart = served.frame("""select to_char(cohort_month, 'YYYY-MM') as cohort,
                                  months_since_acquisition::text as m, retention_rate
                           from marts.mart_cohort_retention
                           where months_since_acquisition <= 12 and retention_rate is not null""")
    recent = sorted(set(mart["cohort"]))[-12:]
    expected = {(r.cohort, r.m): float(r.retention_rate) for r in mart.itertuples()
                if r.cohort in recent}
    assert cells.keys() == expected.keys() and len(cells) >= 12
    assert all(cells[k] == pytest.approx(v, abs=1e-6) for k, v in expected.items())
    assert len({k[0] for k in cells}) > 1 and min(cells.values()) < 1  # retention decays


def test_top_churn_reasons_count_the_risk_mart(report, served):
    _, marks, _ = report
    got = {m["data-x"]: float(m["data-value"]) for m in marks.charts["churn_reasons"]}
    risk = served.frame(f"""select reason_1, reason_2, reason_3 from marts.mart_customer_churn_risk
                           where as_of_date = '{served.as_of_date}'
                             and risk_band in ('high', 'medium')""")
    counts = risk.melt()["value"].dropna().value_counts()
    expected = counts.sort_values(ascending=False).head(10)
    assert got == {k: float(v) for k, v in expected.items()}
    values = list(got.values())
    assert values == sorted(values, reverse=True) and values[0] > 0


def outcome(status: str, severity: str) -> str:
    """What the report calls a check's result (independent of its code)."""
    if status in ("pass", "skipped"):
        return status
    if status == "error" and severity != "blocking":
        return "error"
    return "blocking failure" if severity == "blocking" else "warning"


def test_data_quality_status_of_the_run(report, served):
    html, marks, _ = report
    checks = served.frame(f"""select status, severity from audit.dq_results
                              where run_id = '{served.run_id}'""")
    assert len(checks) > 0  # GX gates and dbt tests of this run were recorded
    expected = checks.apply(lambda r: outcome(r["status"], r["severity"]), axis=1).value_counts()
    got = {m["data-x"]: float(m["data-value"]) for m in marks.charts["dq_status"]}
    assert got == {k: float(v) for k, v in expected.items()}
    assert served.run_id in html
    assert "rows quarantined" in html
    # the pass bar is green, never a failure's red
    svg = html[html.index('data-chart="dq_status"'):]
    assert "#1a7f37" in svg[:svg.index("</figure>")]


def test_failures_come_first_and_link_their_gx_page(served, cfg, tmp_path):
    """A run with failures: blocking ones first, then warnings, each naming check, object and
    batch with a link to its GX page; skipped checks only counted; the section leads."""
    rows = [("value_share_sums_to_one", "marts.mart_value_tiers", None, "blocking", "fail",
             None),
            ("expect_column_values_to_not_be_null", "raw.sales__orders", "b-orders-1",
             "blocking", "fail", "run_x/validations/sales__orders/run_x/t/page.html"),
            ("expect_column_mean_to_be_between", "raw.sales__customers", "b-cust-1",
             "warning", "fail", None),
            *[(f"skipped_check_{i}", "raw.billing__payments", "b-pay-1", "warning", "skipped",
               None) for i in range(30)]]
    with psycopg.connect(served.dsn, autocommit=True) as conn:
        for check, obj, batch, severity, status, page in rows:
            conn.execute("""insert into audit.dq_results (run_id, as_of_date, source, entity,
                                check_name, object_name, batch_id, severity, status, observed,
                                expected, docs_page)
                            values ('serve-broken', %s, 'x', 'y', %s, %s, %s, %s, %s, '0.93',
                                    '1', %s)""",
                         (served.as_of_date, check, obj, batch, severity, status, page))
        conn.execute("alter table marts.mart_cohort_retention rename to mart_cohort_hidden")
        try:
            path, sections = html_report.write(conn, cfg, served.as_of_date,
                                               cfg.home / "reports" / "broken.html",
                                               run_id="serve-broken")
        finally:
            conn.execute("alter table marts.mart_cohort_hidden rename to mart_cohort_retention")
            conn.execute("delete from audit.dq_results where run_id = 'serve-broken'")
    html = path.read_text()
    marks = parse(html)
    assert marks.order[0] == "data_quality"
    assert "2 blocking failures" in html and "1 warnings" in html and "30 skipped" in html
    text = re.sub(r"<[^>]+>", " ", html)
    blocking, warnings = text.index("Blocking failures"), text.index("Warnings")
    assert blocking < text.index("value_share_sums_to_one") < warnings
    assert blocking < text.index("b-orders-1") < warnings < text.index("b-cust-1")
    assert "skipped_check_" not in html  # counted, not listed as failures
    assert "../data_docs/run_x/validations/sales__orders/run_x/t/page.html" in marks.links
    assert html_report.missing_sections(sections) == [
        "cohort_retention: marts.mart_cohort_retention is not built"]
    assert 'data-section="cohort_retention" data-state="missing"' in html


def test_service_section_matches_the_service_marts(report, served):
    _, marks, _ = report
    mart = served.frame("""select to_char(month_start, 'YYYY-MM') as month, ticket_type,
                                  sla_due_tickets, responded_within_sla, overdue_open_tickets
                           from marts.mart_service_monthly""")
    c = mart[mart["ticket_type"] == "complaint"].groupby("month")[
        ["sla_due_tickets", "responded_within_sla"]].sum()
    # a month whose complaints are all still inside their window has no rate yet: no mark
    rate = (c["responded_within_sla"] / c["sla_due_tickets"]).tail(24).dropna()
    got = {m["data-x"].rstrip("*"): float(m["data-value"]) for m in marks.charts["service_sla"]
           if m["data-series"] == "complaints"}
    assert list(got) == list(rate.index)
    assert list(got.values()) == pytest.approx(list(rate), abs=1e-6)
    overdue = mart.groupby("month")["overdue_open_tickets"].sum().tail(24)
    got = [float(m["data-value"]) for m in marks.charts["service_overdue"]
           if m["data-series"] == "overdue open tickets"]
    assert got == [float(v) for v in overdue] and got[-1] > 0
    causes = {m["data-x"]: float(m["data-value"]) for m in marks.charts["complaint_root_causes"]}
    assert sum(causes.values()) == pytest.approx(1, abs=1e-4)


def test_identity_section_shares_by_rule(report, served):
    _, marks, _ = report
    bridge = served.frame("select match_rule from core.bridge_customer_identity "
                          "where source_system <> 'sales'")
    expected = bridge["match_rule"].value_counts(normalize=True)
    got = {m["data-x"]: float(m["data-value"]) for m in marks.charts["identity_match_rules"]}
    assert got == pytest.approx({k: float(v) for k, v in expected.items()}, abs=1e-6)
