"""The nightly report: one static HTML file per run, charts inlined as SVG.

No server, no JavaScript, no network: open ``$CRM_HOME/reports/crm_nightly_<as-of>.html`` (or
``latest.html``) from disk. The page comes from the Jinja2 template
``templates/report.html.j2``; its sections, each read from a published mart or audit table:

* churn and retention trend   — ``marts.mart_churn_monthly`` (from the first observable churn)
* value tiers and value share — ``marts.mart_value_tiers`` (DOMAIN §2, 5 / 15 / 80)
* cohort retention heatmap    — ``marts.mart_cohort_retention``
* top churn reasons           — ``marts.mart_customer_churn_risk`` (reason_1..reason_3)
* service desk                — ``marts.mart_service_*`` (DOMAIN §6)
* identity resolution         — ``core.bridge_customer_identity``, ``core.rpt_identity_unmatched``
* data quality of the run     — ``audit.dq_results``, failures first, linked to their GX pages
* sources of the run          — ``audit.run_summary``

A section whose table is missing says so instead of failing the run (a warehouse part-way
through an upgrade still gets its report); :func:`missing_sections` lists them.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import jinja2
import psycopg

from crmwh.report import formats, run_checks, sections, service
from crmwh.report.db import exists
from crmwh.report.model import Section
from crmwh.settings import Settings

log = logging.getLogger(__name__)

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("crmwh.report", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False)


def reflected_as_of(conn: psycopg.Connection) -> date | None:
    """The as-of date the published marts reflect (write-audit-publish's marker table, else
    the latest as-of date in mart_customer_value)."""
    for sql, table in (("select max(as_of_date) from marts.wap_published", "marts.wap_published"),
                       ("select max(as_of_date) from marts.mart_customer_value",
                        "marts.mart_customer_value")):
        if exists(conn, table):
            value = conn.execute(sql).fetchone()[0]
            if value is not None:
                return value
    return None


def _kpis(conn: psycopg.Connection) -> list[tuple[str, str]]:
    if not exists(conn, "marts.mart_customer_directory"):
        return []
    n, buyers, repeat = conn.execute(
        "select count(*), count(*) filter (where is_buyer), "
        "count(*) filter (where is_repeat_buyer) from marts.mart_customer_directory").fetchone()
    return [("customers", formats.count(n)), ("buying", formats.count(buyers)),
            ("bought twice or more", formats.count(repeat))]


def build(conn: psycopg.Connection, as_of_date: date, run_id: str | None = None,
          docs_root: Path | None = None, page_dir: Path | None = None
          ) -> tuple[str, list[Section]]:
    """The page and its sections. ``docs_root`` (``$CRM_HOME/data_docs``) and ``page_dir``
    (where the page is written) make the links to the GX pages relative."""
    drawn = [sections.churn_trend(conn, as_of_date), sections.value_tiers(conn, as_of_date),
             sections.cohort_heatmap(conn, as_of_date), sections.churn_reasons(conn, as_of_date),
             service.service(conn, as_of_date), service.identity(conn),
             run_checks.data_quality(conn, as_of_date, run_id, docs_root, page_dir),
             run_checks.sources(conn, as_of_date, run_id)]
    # failures first: a run with a blocking failure leads with its data quality
    if drawn[-2].facts.get("blocking"):
        drawn.insert(0, drawn.pop(-2))
    page = TEMPLATES.get_template("report.html.j2").render(
        as_of_date=as_of_date, run_id=run_id, sections=drawn, kpis=_kpis(conn),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return page, drawn


def missing_sections(drawn: list[Section]) -> list[str]:
    return [f"{s.key}: {s.missing}" for s in drawn if s.missing]


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
    path = Path(out) if out else cfg.home / "reports" / f"crm_nightly_{as_of_date}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    page, drawn = build(conn, as_of_date, run_id, cfg.home / "data_docs", path.parent.resolve())
    for line in missing_sections(drawn):
        log.warning("report section missing: %s", line)
    path.write_text(page, encoding="utf-8")
    if out is None:
        (path.parent / "latest.html").write_text(page, encoding="utf-8")
    return path, drawn


def nightly(as_of_date: date, run_id: str | None) -> dict:
    """The DAG's last step: make sure the readers can read the published marts (idempotent;
    write-audit-publish already granted them before its swap), write the report and prune
    reports, logs and Data Docs to the last ``CRM_KEEP_RUNS`` runs. Returns what it did."""
    from crmwh import database, retention, settings
    from crmwh.warehouse import roles

    cfg = settings.load()
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        roles.grant_marts(conn, "marts")
        path, drawn = write(conn, cfg, as_of_date, run_id=run_id)
    return {"report": str(path), "missing_sections": missing_sections(drawn),
            "pruned": retention.prune(cfg)}
