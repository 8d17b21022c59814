"""What the gate knows about a batch beyond its rows: history, freshness and references.

Three kinds of checks in an expectation suite need the warehouse, not just the batch:

* **referential** (``derived_columns``): for each row, is the referenced key one the
  warehouse already knows (``raw``, any loaded batch, this one included)? Computed in SQL
  as a boolean column added to the batch frame (:func:`derived_sql`); the suite expects it
  to be ``true``.
* **volume** (``profile_expectations``, ``meta.volume``): the rows delivered for the batch's
  as-of date, landed or parked (every loaded batch of that date, this one included, so a
  rerun that lands nothing new is no drop; parked rows count on the date they came)
  against the median of the same per-date totals over the entity's recent dates in
  ``audit.load_batches`` (the first, bulk-load date excluded).
* **freshness** (``profile_expectations``, ``meta.max_age_hours``): the newest
  ``updated_at`` the warehouse holds for the entity against the end of the as-of date.

Volume and freshness run on a one-row *profile* frame (``rows_for_date``,
``newest_updated_at``); their bounds are filled in here at run time, so the reviewed
suite holds the rule (ratios, ages) and the numbers come from history.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from psycopg import sql
from psycopg.rows import tuple_row

from crmwh.source_entities import Entity

PROFILE_COLUMNS = ("rows_for_date", "newest_updated_at")
RELEASE_PREFIX = "release__"  # batches of crmwh.quality.release
# batches of parked rows released (crmwh.quality.parking): counted on the date they were
# delivered (rows_parked), not again on the date they were released
PARKED_PREFIX = f"{RELEASE_PREFIX}parked__"


@dataclass(frozen=True)
class Bounds:
    """Run-time kwargs for one profile expectation, or why it cannot be judged yet."""

    kwargs: dict[str, Any]
    skip_reason: str | None = None
    basis: str = ""


@dataclass(frozen=True)
class DerivedSql:
    """The suite's derived columns in SQL: select expressions over the batch alias ``b``,
    and the left joins they read from."""

    columns: list[sql.Composable]
    joins: list[sql.Composable]


def derived_sql(derived: dict[str, dict[str, str]]) -> DerivedSql:
    """The suite's referential columns: NULL when the column is, else whether ``raw`` holds
    a row with that key (any batch, any version).

    Each is a left join to the referenced keys made distinct, which PostgreSQL runs as a
    hash join (or merge join) whatever ``work_mem``: linear in batch plus referenced table.
    A per-row ``in (select ...)`` is hashed only when the keys fit in ``work_mem``; above
    that it is rescanned for every batch row (a night-1 gate stalled on it).
    """
    columns, joins = [], []
    for i, (name, spec) in enumerate(derived.items()):
        ref_table, ref_key = spec["references"].split(".")
        parts = {"col": sql.Identifier(spec["column"]), "key": sql.Identifier(ref_key),
                 "ref": sql.Identifier("raw", ref_table), "alias": sql.Identifier(f"ref_{i}"),
                 "name": sql.Identifier(name)}
        joins.append(sql.SQL(
            "left join (select distinct {key} from {ref}) {alias} on {alias}.{key} = b.{col}"
        ).format(**parts))
        columns.append(sql.SQL(
            "case when b.{col} is null then null else {alias}.{key} is not null end as {name}"
        ).format(**parts))
    return DerivedSql(columns, joins)


def _table_exists(cur: Any, qualified: str) -> bool:
    cur.execute("select to_regclass(%s)", (qualified,))
    return cur.fetchone()[0] is not None


_PER_DATE = """
    with loaded as (
        select as_of_date, rows_loaded + rows_parked as rows_loaded, started_at
        from audit.load_batches
        where source = %(source)s and entity = %(entity)s and status = 'loaded'
          and batch_id not like 'release\\_\\_parked\\_\\_%%'
    ), first_date as (
        select as_of_date from loaded order by started_at limit 1
    )
    select as_of_date, sum(rows_loaded)::bigint from loaded
    where as_of_date <> (select as_of_date from first_date)
    group by as_of_date
"""


def batch_as_of_date(cur: Any, batch_id: str) -> date | None:
    """The as-of date the loader recorded for the batch, if any."""
    if not _table_exists(cur, "audit.load_batches"):
        return None
    cur.execute("select as_of_date from audit.load_batches where batch_id = %s", (batch_id,))
    row = cur.fetchone()
    return row[0] if row else None


def profile_frame(conn: Any, entity: Entity, batch_id: str, batch_rows: int):
    """The one-row profile frame: rows landed for the batch's date, newest update held."""
    import pandas as pd

    newest, rows = None, batch_rows
    column = entity.updated_column
    with conn.cursor(row_factory=tuple_row) as cur:
        if column in entity.column_names:
            cur.execute(sql.SQL("select max({c}) from {t}").format(
                c=sql.Identifier(column), t=sql.Identifier("raw", entity.table)))
            newest = cur.fetchone()[0]
        as_of_date = batch_as_of_date(cur, batch_id)
        if as_of_date is not None and not batch_id.startswith(RELEASE_PREFIX):
            cur.execute("""select coalesce(sum(rows_loaded + rows_parked), 0)::bigint
                           from audit.load_batches
                           where source = %s and entity = %s and as_of_date = %s
                             and status = 'loaded' and not starts_with(batch_id, %s)""",
                        (entity.source, entity.name, as_of_date, PARKED_PREFIX))
            rows = cur.fetchone()[0]
    stamp = pd.Timestamp(newest).tz_convert(None) if newest is not None else pd.NaT
    return pd.DataFrame({
        "rows_for_date": pd.Series([rows], dtype="Int64"),
        "newest_updated_at": pd.Series([stamp], dtype="datetime64[us]"),
    })


def volume_bounds(conn: Any, entity: Entity, batch_id: str, rule: dict[str, Any]) -> Bounds:
    """min/max rows for the batch's date from the entity's recent dates (see module doc)."""
    if batch_id.startswith(RELEASE_PREFIX):
        return Bounds({}, "a re-release of quarantined rows is not a daily batch")
    with conn.cursor(row_factory=tuple_row) as cur:
        as_of_date = batch_as_of_date(cur, batch_id)
        if as_of_date is None:
            return Bounds({}, "no load history for the batch in audit.load_batches")
        cur.execute(
            """select batch_id from audit.load_batches
               where source = %s and entity = %s and as_of_date = %s and status = 'loaded'
                 and batch_id <> %s and started_at <= (
                     select started_at from audit.load_batches where batch_id = %s)
               order by started_at limit 1""",
            (entity.source, entity.name, as_of_date, batch_id, batch_id))
        earlier = cur.fetchone()
        if earlier is not None:
            return Bounds({}, f"{as_of_date} already landed in batch {earlier[0]}: the volume of a "
                              "date is judged when it first lands")
        cur.execute(f"select sum_rows from ({_PER_DATE}) d (as_of_date, sum_rows) "
                    "where as_of_date < %(day)s order by as_of_date desc limit %(n)s",
                    {"source": entity.source, "entity": entity.name, "day": as_of_date,
                     "n": int(rule["history_batches"])})
        history = [r[0] for r in cur.fetchall()]
    if len(history) < int(rule["min_history"]):
        return Bounds({}, f"{len(history)} earlier dates of history, "
                          f"{rule['min_history']} needed (tolerant on the first days)")
    median = statistics.median(history)
    if median < float(rule["min_median"]):
        return Bounds({}, f"median {median:g} rows is under {rule['min_median']}: too small to "
                          "judge a drop or a spike")
    low = math.floor(median * float(rule["drop_below"]))
    high = math.ceil(median * float(rule["spike_above"]))
    return Bounds({"min_value": low, "max_value": high},
                  basis=f"median {median:g} rows of the last {len(history)} dates")


def freshness_bounds(as_of_date: date | None, max_age_hours: float) -> Bounds:
    """The oldest acceptable newest-update: end of the as-of date minus the allowed age."""
    if as_of_date is None:
        return Bounds({}, "no as-of date for the batch")
    end = datetime(as_of_date.year, as_of_date.month, as_of_date.day,
                   tzinfo=UTC) + timedelta(days=1)
    oldest = (end - timedelta(hours=float(max_age_hours))).replace(tzinfo=None)
    return Bounds({"min_value": oldest},
                  basis=f"at most {max_age_hours:g} h before the end of {as_of_date}")


def suite_bounds(conn: Any, entity: Entity, batch_id: str, suite: dict[str, Any],
                 as_of_date: date | None) -> list[Bounds]:
    """The bounds of each of the suite's profile expectations, in suite order."""
    out = []
    for exp in suite.get("profile_expectations") or []:
        meta = exp.get("meta") or {}
        if "volume" in meta:
            out.append(volume_bounds(conn, entity, batch_id, meta["volume"]))
        elif "max_age_hours" in meta:
            out.append(freshness_bounds(as_of_date, meta["max_age_hours"]))
        else:
            out.append(Bounds({}))
    return out
