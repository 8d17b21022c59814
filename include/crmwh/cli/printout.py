"""Rows printed as a table (rich), CSV or JSON with every value exact, and the end-of-run
report printed by ``crmwh run``.

A value prints as PostgreSQL returns it: numerics and floats in full (``0.0012``, never
rounded), integers and years without separators, dates and times in ISO 8601, booleans as
``true``/``false``, JSON values as JSON.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text


def cell(v: Any) -> str:
    """One value as text, exactly."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, date | datetime | time):
        return v.isoformat()
    if isinstance(v, dict | list):
        return json.dumps(v, default=str, ensure_ascii=False)
    if isinstance(v, float) and not math.isfinite(v):  # as PostgreSQL spells them
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return str(v)


def _numeric(rows: Sequence[Sequence[Any]], i: int) -> bool:
    return bool(rows) and all(
        v is None or (isinstance(v, int | float | Decimal) and not isinstance(v, bool))
        for v in (r[i] for r in rows))


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned table (numbers to the right), as wide as its values need: nothing is cut."""
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    for i, name in enumerate(columns):
        grid.add_column(Text(name), justify="right" if _numeric(rows, i) else "left",
                        no_wrap=True)
    for row in rows:
        grid.add_row(*(Text(cell(v)) for v in row))
    console = Console(width=100_000, color_system=None, highlight=False)
    with console.capture() as out:
        console.print(grid)
    return "\n".join(line.rstrip() for line in out.get().splitlines())


def _json_value(v: Any) -> str:
    """One value as JSON text: numerics as the exact number, non-finite ones as strings."""
    if isinstance(v, Decimal) and v.is_finite():
        return str(v)
    if isinstance(v, float) and math.isfinite(v):
        return repr(v)
    if isinstance(v, int | bool | str | dict | list) or v is None:
        return json.dumps(v, default=str, ensure_ascii=False)
    return json.dumps(cell(v), ensure_ascii=False)


def write_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([cell(v) for v in row] for row in rows)


def json_object(columns: Sequence[str], row: Sequence[Any]) -> str:
    """One row as a JSON object, its numbers exact."""
    return "{" + ", ".join(f"{json.dumps(c, ensure_ascii=False)}: {_json_value(v)}"
                           for c, v in zip(columns, row, strict=True)) + "}"


def json_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A JSON array of one object per row, a row per line."""
    return "[" + ",\n ".join(json_object(columns, row) for row in rows) + "]"


def write_json(columns: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO) -> None:
    out.write(json_rows(columns, rows) + "\n")


def emit(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "table",
         out: TextIO | None = None) -> None:
    """Print rows in a format of :data:`crmwh.cli.common.FORMATS`."""
    out = out or sys.stdout
    if fmt == "csv":
        write_csv(columns, rows, out)
    elif fmt == "json":
        write_json(columns, rows, out)
    else:
        out.write(table(columns, rows) + "\n")


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
