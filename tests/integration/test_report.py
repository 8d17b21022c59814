"""The nightly HTML report, rendered on the dbt-built warehouse with the real churn,
value and data-quality tables: every chart is present and carries the marts' numbers; a
blocking data-quality failure shows; a missing mart is reported, not fatal.
"""

from __future__ import annotations

from html.parser import HTMLParser

import psycopg
import pytest

from crmwh import database
from crmwh.report import html as html_report
from tests.support.value_tiers import KEY_SHARE


class Marks(HTMLParser):
    """Charts (svg[data-chart]) and their marks (elements with data-value)."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, list[dict]] = {}
        self.sections: dict[str, str] = {}
        self.scripts = 0
        self._chart: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "section":
            self.sections[a["data-section"]] = a["data-state"]
        if tag == "svg" and "data-chart" in a:
            self._chart = a["data-chart"]
            self.charts[self._chart] = []
        elif self._chart and "data-value" in a:
            self.charts[self._chart].append(a)

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart = None


@pytest.fixture(scope="module")
def report(served, cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    with database.connect(served.dsn) as conn:
        path, sections = html_report.write(conn, cfg, served.as_of_date, out, run_id=served.run_id)
    html = path.read_text(encoding="utf-8")
    marks = Marks()
    marks.feed(html)
    return html, marks, sections


def test_every_section_is_drawn_from_real_marts(report):
    html, marks, sections = report
    assert html_report.missing_sections(sections) == []
    assert marks.sections == {k: "ok" for k in ("churn_trend", "value_tiers",
                                                "cohort_retention", "churn_reasons",
                                                "data_quality", "sources")}
    assert set(marks.charts) == {"churn_trend", "retention_trend", "value_tiers",
                                 "cohort_retention", "churn_reasons", "dq_status"}
    assert all(marks.charts[c] for c in marks.charts), "a chart without marks"
    assert marks.scripts == 0 and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")  # static, self-contained


def test_churn_and_retention_trend_match_the_churn_mart(report, served):
    _, marks, _ = report
    mart = served.frame("""select to_char(month_start, 'YYYY-MM') as month, churn_rate,
                                  retention_rate, is_partial_month
                           from marts.mart_churn_monthly
                           where breakdown = 'all' and customers_at_start > 0
                           order by month_start""").tail(24)
    labels = [m + ("*" if p else "") for m, p in zip(mart["month"], mart["is_partial_month"],
                                                     strict=True)]
    churn = marks.charts["churn_trend"]
    assert [m["data-x"] for m in churn] == labels
    assert [float(m["data-value"]) for m in churn] == pytest.approx(
        [float(v) for v in mart["churn_rate"]], abs=1e-6)
    retention = marks.charts["retention_trend"]
    assert [float(m["data-value"]) for m in retention] == pytest.approx(
        [1 - float(v) for v in mart["churn_rate"]], abs=1e-6)
    assert any(float(m["data-value"]) > 0 for m in churn)  # real churn, not a flat zero


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


def test_data_quality_status_of_the_run(report, served):
    html, marks, _ = report
    statuses = served.frame(f"""select status, count(*) as n from audit.dq_results
                               where run_id = '{served.run_id}' group by status""")
    assert statuses["n"].sum() > 0  # GX gates and dbt tests of this run were recorded
    got = {m["data-x"]: float(m["data-value"]) for m in marks.charts["dq_status"]}
    assert got == {r.status: float(r.n) for r in statuses.itertuples()}
    assert served.run_id in html
    assert "rows quarantined" in html


def test_a_blocking_failure_and_a_missing_mart_show_in_the_report(served, cfg, tmp_path):
    with psycopg.connect(served.dsn, autocommit=True) as conn:
        conn.execute("""insert into audit.dq_results (run_id, as_of_date, source, entity,
                            check_name, object_name, severity, status, observed, expected)
                        values ('serve-broken', %s, 'dbt', 'mart_value_tiers',
                                'value_share_sums_to_one', 'marts.mart_value_tiers',
                                'blocking', 'fail', '0.93', '1')""", (served.as_of_date,))
        conn.execute("alter table marts.mart_cohort_retention rename to mart_cohort_hidden")
        try:
            path, sections = html_report.write(conn, cfg, served.as_of_date, tmp_path / "r.html",
                                               run_id="serve-broken")
        finally:
            conn.execute("alter table marts.mart_cohort_hidden rename to mart_cohort_retention")
            conn.execute("delete from audit.dq_results where run_id = 'serve-broken'")
    html = path.read_text()
    assert "blocking failures" in html and "value_share_sums_to_one" in html
    assert html_report.missing_sections(sections) == [
        "cohort_retention: marts.mart_cohort_retention is not built"]
    assert 'data-section="cohort_retention" data-state="missing"' in html
