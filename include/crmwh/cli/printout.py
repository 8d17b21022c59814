"""Plain-text tables and the end-of-run report printed by ``crmwh run``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float | Decimal):
        return f"{v:,.2f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def table(columns: list[str], rows: list[tuple]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[i], int | float | Decimal) or r[i] is None for r in rows) and rows
               for i in range(len(columns))]

    def fmt(values: list[str]) -> str:
        return " | ".join(v.rjust(w) if numeric[i] else v.ljust(w)
                          for i, (v, w) in enumerate(zip(values, widths, strict=True)))

    lines = [fmt(columns), "-+-".join("-" * w for w in widths)]
    lines += [fmt(r) for r in cells]
    return "\n".join(lines)


def run_report(conn, day: date) -> str:
    out = []
    cur = conn.execute(
        """select source || '.' || entity, rows_extracted, rows_loaded, rows_unchanged,
                  rows_parked, rows_quarantined
           from audit.load_batches where as_of_date = %s and status = 'loaded'
             and run_id = (select run_id from audit.run_summary where as_of_date = %s
                           order by finished_at desc limit 1)
           order by 1""", (day, day))
    out.append(f"\nLanded for {day} (this run):")
    out.append(table(["entity", "extracted", "loaded", "unchanged", "parked", "quarantined"],
                     cur.fetchall()))
    absent = conn.execute(
        """select absent_sources, partial_marts from audit.run_summary where as_of_date = %s
           order by finished_at desc limit 1""", (day,)).fetchone()
    if absent and absent[0]:
        out.append("\nAbsent sources (skipped: nothing landed from them):")
        out.append(table(["source", "why absent"], sorted(absent[0].items())))
        out.append(f"Partial marts (built without them): {', '.join(sorted(absent[1]))}")
    cur = conn.execute(
        """select table_schema || '.' || table_name from information_schema.tables
           where table_schema in ('core', 'marts') order by 1""")
    counts = []
    for (name,) in cur.fetchall():
        counts.append((name, conn.execute(f"select count(*) from {name}").fetchone()[0]))
    out.append("\nRows in core and marts:")
    out.append(table(["table", "rows"], counts))
    published = conn.execute("select max(as_of_date) from marts.wap_published").fetchone()[0]
    if published != day:
        out.append(f"\nThe marts hold as-of {published}, not {day}: the figures below are "
                   f"{published}'s.")
    cur = conn.execute(
        """select value_rank, customer_name, value_tier, orders_count, revenue, gross_margin,
                  round(value_share * 100, 2) as value_share_pct
           from marts.mart_customer_value order by value_rank limit 10""")
    out.append(f"\nTop customers by value as of {published} (marts.mart_customer_value):")
    out.append(table([d.name for d in cur.description], cur.fetchall()))
    cur = conn.execute(
        """select value_tier, count(*) as customers, sum(gross_margin) as gross_margin,
                  round(sum(value_share) * 100, 1) as value_share_pct
           from marts.mart_customer_value group by 1 order by 3 desc""")
    out.append("\nValue tiers (DOMAIN §2, 5/15/80):")
    out.append(table([d.name for d in cur.description], cur.fetchall()))
    return "\n".join(out)
