"""The run's sections: its data-quality checks, failures first, and the sources it read.

Checks come from ``audit.dq_results`` (the GX gate's and dbt's tests). The page lists the
blocking failures, then the warnings, each naming its check, object and batch with a link to
its Great Expectations page; skipped checks are only counted (they are not failures).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from urllib.parse import quote

import psycopg
from markupsafe import Markup

from crmwh.quality import data_docs
from crmwh.report import charts, formats
from crmwh.report.db import exists, rows
from crmwh.report.model import Note, Section, Table

# outcome of a check -> colour of its bar (green passes, red blocks, amber warns)
OUTCOMES = {"pass": charts.GREEN, "blocking failure": charts.RED, "warning": charts.AMBER,
            "error": "#82071e", "skipped": charts.GREY}
LISTED = 50  # failures listed per table; the rest are counted


def _outcome(status: str, severity: str) -> str:
    if status == "pass":
        return "pass"
    if status == "skipped":
        return "skipped"
    if status == "error" and severity != "blocking":
        return "error"
    return "blocking failure" if severity == "blocking" else "warning"


def _run_of(conn: psycopg.Connection, as_of_date: date, run_id: str | None) -> str | None:
    if run_id is not None:
        return run_id
    found = conn.execute("""select run_id from audit.dq_results where as_of_date = %s
                            order by checked_at desc limit 1""", (as_of_date,)).fetchone()
    return found[0] if found else None


def _failures(found: list[tuple], title: str, docs_root: Path | None, page_dir: Path | None
              ) -> Table:
    links = {}
    listed = found[:LISTED]
    for i, r in enumerate(listed):
        if r[6] and docs_root is not None and page_dir is not None:
            links[(i, 5)] = quote(Path(os.path.relpath(docs_root / r[6], page_dir)).as_posix())
    more = f" (the first {LISTED} of {len(found)})" if len(found) > LISTED else ""
    return Table(["check", "object", "batch", "observed", "expected", "GX"],
                 [[r[0], r[1], r[2] or "dbt build", _clip(r[3]), _clip(r[4]),
                   "page" if r[6] else ""] for r in listed], left=6,
                 caption=f"{title}{more}", links=links)


def _clip(text: str | None, most: int = 140) -> str:
    """Observed and expected values can be long lists: the table shows their start, the GX
    page all of it."""
    text = text or ""
    return text if len(text) <= most else text[:most - 1] + "…"


def data_quality(conn: psycopg.Connection, as_of_date: date, run_id: str | None,
                 docs_root: Path | None = None, page_dir: Path | None = None) -> Section:
    s = Section("data_quality", "Data quality of the run")
    run_id = _run_of(conn, as_of_date, run_id) if exists(conn, "audit.dq_results") else None
    checks = rows(conn, """
        select check_name, object_name, batch_id, observed, expected, status, docs_page,
               severity
        from audit.dq_results where run_id = %s
        order by check_name, object_name, batch_id""", (run_id,)) if run_id else []
    if checks:
        counts = {k: 0 for k in OUTCOMES}
        for c in checks:
            counts[_outcome(c[5], c[7])] += 1
        blocking = [c for c in checks if _outcome(c[5], c[7]) == "blocking failure"]
        warnings = [c for c in checks if _outcome(c[5], c[7]) in ("warning", "error")]
        s.facts = {"run_id": run_id, "outcomes": counts, "blocking": len(blocking),
                   "warnings": len(warnings)}
        verdict = (Markup('<b class="bad">{} blocking failures</b>').format(len(blocking))
                   if blocking else Markup('<b class="ok">no blocking failure</b>'))
        s.note(Markup("Run <code>{run}</code>: {verdict}, {w} warnings, {p} checks passed, "
                      "{k} skipped (not run: empty batch or nothing to compare).").format(
            run=run_id, verdict=verdict, w=formats.count(len(warnings)),
            p=formats.count(counts["pass"]), k=formats.count(counts["skipped"])),
            "bad" if blocking else "ok")
        if blocking:
            s.blocks.append(_failures(blocking, "Blocking failures", docs_root, page_dir))
        if warnings:
            s.blocks.append(_failures(warnings, "Warnings", docs_root, page_dir))
        shown = [k for k in OUTCOMES if counts[k]]
        s.blocks.append(charts.hbars("dq_status", shown, [float(counts[k]) for k in shown],
                                     axis="count", x_label="checks",
                                     colors=[OUTCOMES[k] for k in shown],
                                     label="checks of the run by outcome"))
        if docs_root is not None and page_dir is not None:
            index = data_docs.run_dir(docs_root.parent, run_id) / "index.html"
            if index.exists():
                s.note(Markup('Great Expectations Data Docs of the run: <a href="{}">index</a>.'
                              ).format(Path(os.path.relpath(index, page_dir)).as_posix()))
    if exists(conn, "audit.load_batches"):
        landed = rows(conn, """
            select source || '.' || entity, sum(rows_loaded)::bigint,
                   sum(rows_quarantined)::bigint
            from audit.load_batches where as_of_date = %s and status = 'loaded'
            group by 1 order by 1""", (as_of_date,))
        if landed:
            s.facts["quarantined"] = {r[0]: int(r[2]) for r in landed}
            s.blocks.append(Table(["entity", "rows loaded", "rows quarantined"],
                                  [[r[0], formats.count(r[1]), formats.count(r[2])]
                                   for r in landed],
                                  caption="Landed on the as-of date (rows quarantined on "
                                          "landing)"))
    if not checks:
        if not s.blocks:
            s.missing = f"no audit.dq_results rows for {as_of_date}"
        else:
            s.blocks.insert(0, Note(Markup.escape("No data-quality check results recorded "
                                                  "for this run (audit.dq_results)."), "warn"))
    return s


def sources(conn: psycopg.Connection, as_of_date: date, run_id: str | None) -> Section:
    """Which sources the run read, and the marts an absent source leaves partial."""
    s = Section("sources", "Sources of the run")
    row = None
    if exists(conn, "audit.run_summary"):
        row = conn.execute(
            """select run_id, coalesce(absent_sources, '{}'), coalesce(partial_marts, '{}')
               from audit.run_summary where as_of_date = %s and (%s::text is null or run_id = %s)
               order by finished_at desc limit 1""", (as_of_date, run_id, run_id)).fetchone()
    absent, partial = (row[1], row[2]) if row else ({}, {})
    s.facts = {"absent_sources": absent, "partial_marts": partial}
    if not absent:
        s.note("No source was absent from this run: no mart is partial.", "ok")
        return s
    s.blocks.append(Table(["source", "why absent"], [list(i) for i in sorted(absent.items())],
                          left=2, caption="Absent sources (skipped, nothing landed from them "
                                          "this run)"))
    s.blocks.append(Table(["mart", "missing sources"],
                          [[m, ", ".join(v)] for m, v in sorted(partial.items())], left=2,
                          caption="Partial marts (built without the absent sources' data)"))
    return s
