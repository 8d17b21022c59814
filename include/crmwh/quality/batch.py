"""What the gate reads of a landed batch: its rows as a typed frame, and what landing
quarantined of it."""

from __future__ import annotations

import logging
from typing import Any

from psycopg import sql
from psycopg.rows import tuple_row

from crmwh.errors import CrmwhError
from crmwh.quality import profile
from crmwh.quality.observed import short
from crmwh.quality.results import Check
from crmwh.source_entities import Entity

log = logging.getLogger(__name__)

MAX_ROW_LEVEL_REASONS = 20


def read_batch(conn: Any, entity: Entity, batch_id: str, derived: dict[str, dict[str, str]]):
    """The batch's entity columns (those the raw table has) and the suite's usable derived
    columns, as a pandas frame with dtypes GX handles well."""
    import pandas as pd

    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "select column_name from information_schema.columns"
            " where table_schema = 'raw' and table_name = %s",
            (entity.table,),
        )
        present = {r[0] for r in cur.fetchall()}
        if not present:
            raise CrmwhError(
                f"{entity.qualified} does not exist, so batch {batch_id} cannot be checked",
                "land the batch first (the loader creates the table from the contract)",
            )
        # Missing entity columns are left out here and reported by the suite's
        # blocking column-set check, rather than failing the query.
        columns = [c for c in entity.columns if c.name in present]
        # referential columns need their own column and the referenced table
        usable = {}
        for name, spec in derived.items():
            cur.execute("select to_regclass(%s)", ("raw." + spec["references"].split(".")[0],))
            if spec["column"] in present and cur.fetchone()[0] is not None:
                usable[name] = spec
        refs = profile.derived_sql(usable)
        exprs = [sql.SQL("b.{}").format(sql.Identifier(c.name)) for c in columns]
        # in the order the rows were landed whatever the plan (the joins, a parallel scan),
        # so the sample values a failed check reports do not depend on it
        query = sql.SQL("select {cols} from {table} b {joins} where b._batch_id = %s "
                        "order by b.ctid").format(
            cols=sql.SQL(", ").join(exprs + refs.columns),
            table=sql.Identifier("raw", entity.table),
            joins=sql.SQL(" ").join(refs.joins),
        )
        cur.execute(query, (batch_id,))
        rows = cur.fetchall()

    df = pd.DataFrame.from_records(rows, columns=[c.name for c in columns] + list(usable))
    for col in columns:
        df[col.name] = _coerce(df[col.name], col.type)
    for name in usable:
        df[name] = df[name].astype("boolean")
    return df


def _coerce(series, type_: str):
    """Give a column a pandas dtype GX handles well; leave it alone if it will not convert."""
    import pandas as pd

    try:
        if type_ == "int":
            return series.astype("Int64")
        if type_ == "numeric":
            return pd.to_numeric(series).astype("float64")
        if type_ == "bool":
            return series.astype("boolean")
        if type_ == "timestamptz":
            # Naive UTC: GX's pair comparisons on tz-aware columns hit a pandas 3.1
            # deprecation (Series.values dropping the timezone).
            return pd.to_datetime(series, utc=True).dt.tz_convert(None)
    except (TypeError, ValueError, OverflowError):
        log.warning("column %s does not convert to %s; checking it as is", series.name, type_)
    return series


# a reason's kind: the reason without the file line it names, nor that line's own detail
# ("malformed CSV line 3028: 10 fields, header has 9" -> "malformed CSV line"; "line 7 is not
# valid utf-8 (byte 0xe9 at position 4): declare ..." -> "line is not valid utf-8: declare ...")
QUARANTINE_KINDS = """
    with kinds as (
        select regexp_replace(regexp_replace(reason,
                   '^(malformed \\S+ line) [0-9]+: .*$', '\\1'),
                   'line [0-9]+ (is not valid \\S+) \\([^)]*\\)', 'line \\1') as kind,
            substring(reason from 'line ([0-9]+)')::int as line
        from quarantine.rows where batch_id = %(batch_id)s
    )
    select kind, count(*), (array_agg(distinct line) filter (where line is not null))[1:%(lines)s]
    from kinds group by kind order by count(*) desc, kind limit %(kinds)s
"""
LINES_NAMED = 5  # line numbers named per kind of reason; quarantine.rows has every one


def quarantined_checks(conn: Any, entity: Entity, batch_id: str) -> list[Check]:
    """The rows landing put in quarantine for this batch, one check per kind of reason
    (row-level): reasons that differ only in the file line they name (and its detail) are one
    check naming the first lines ("malformed CSV line": 3 rows, lines 17, 40, 96)."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("select to_regclass('quarantine.rows')")
        if cur.fetchone()[0] is None:
            return []
        cur.execute(QUARANTINE_KINDS, {"batch_id": batch_id, "lines": LINES_NAMED,
                                       "kinds": MAX_ROW_LEVEL_REASONS})
        found = cur.fetchall()
    checks = []
    for kind, n, lines in found:
        named = ""
        if lines:
            more = ", ..." if n > len(lines) else ""
            named = f" ({'lines' if len(lines) > 1 else 'line'} " \
                    f"{', '.join(map(str, lines))}{more})"
        checks.append(Check(
            f"landing: {short(kind)[:200]}", entity.qualified, "row-level", "fail",
            f"{n} {'row' if n == 1 else 'rows'} quarantined{named}", "0 rows (they wait in "
            "quarantine.rows for a fix and `crmwh quarantine release`)"))
    return checks


def held_file_checks(conn: Any, entity: Entity, batch_id: str) -> list[Check]:
    """The files landing held for this batch (not matching their manifest), one blocking
    failure each: nothing of them was consumed, and the batch must not pass."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("select to_regclass('audit.billing_deliveries')")
        if cur.fetchone()[0] is None:
            return []
        cur.execute(
            """select check_name, drop_date::text || '/' || file_name, detail
               from audit.billing_deliveries where batch_id = %s and outcome = 'held'
               order by drop_date, file_name""", (batch_id,))
        found = cur.fetchall()
    return [Check(f"file {check}", ref, "blocking", "fail", f"{ref}: {detail}",
                  f"every file of {entity.qualified} as its manifest declares it (re-deliver "
                  "the file or correct its manifest, then rerun the date)")
            for check, ref, detail in found]
