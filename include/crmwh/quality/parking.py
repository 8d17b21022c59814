"""Early-arriving facts: rows whose parent has not arrived yet wait in ``quarantine.parked``.

Parents arriving after their children is normal in real feeds, so an orphan (a row whose
referenced key, a suite ``derived_columns`` reference, ``raw`` does not hold yet) neither
stops the night nor lands in ``raw``:

* **reject or park** — the suite's blocking referential checks reject a batch whole when
  more than ``CRM_ORPHAN_REJECT_SHARE`` of its keys are unknown (in batches of
  ``meta.min_rows`` rows or more): a feed that broken is not late. The gate fills that
  share into the checks' ``mostly`` (:func:`with_reject_share`). A batch that passes has
  its orphans moved from ``raw`` to ``quarantine.parked`` with their reason (:func:`park`);
  the rest of it stays landed and the night goes on.
* **settle** — each later night, before the entity's batch is gated, its parked rows are
  checked again (:func:`settle`): a row whose parents have all landed is released into
  ``raw``; a row parked ``CRM_PARK_DAYS`` nights ago or more whose parent is still missing
  goes to ``quarantine.rows`` with the reason ``parent never arrived after N days``. Both
  form one batch of their own, ``release__parked__<entity>__<date>__<id>`` in
  ``audit.load_batches`` (its rows extracted from the parking, not a source), which the
  gate then checks like any batch.

Every step is one transaction, and the batch records reconcile:
``rows_extracted = rows_loaded + rows_unchanged + rows_parked + rows_quarantined``. A
version already parked (by row hash) is counted unchanged, not parked twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from psycopg import sql

from crmwh.load.batches import BatchResult, record_batch
from crmwh.quality.profile import PARKED_PREFIX
from crmwh.quality.results import Check, GateResult, record
from crmwh.source_entities import Entity

META = ("_batch_id", "_extracted_at", "_source_ref", "_row_hash")
WORK_MEM = "set local work_mem = '128MB'"  # as the gate's (crmwh.quality.gate)


@dataclass(frozen=True)
class Parked:
    rows_parked: int  # moved from raw to quarantine.parked
    rows_unchanged: int  # moved out of raw: the same version already waits (or waited)


def with_reject_share(suite: dict[str, Any], share: float) -> dict[str, Any]:
    """The suite with ``mostly = 1 - share`` on its blocking referential checks."""
    for exp in suite["expectations"]:
        meta = exp.get("meta") or {}
        if meta.get("check") == "referential" and meta.get("severity") == "blocking":
            exp["kwargs"]["mostly"] = round(1 - share, 6)
    return suite


def _references(conn: Any, entity: Entity, derived: dict[str, dict[str, str]]
                ) -> list[tuple[str, str, str]]:
    """(column, referenced table, its key) of each reference the gate can check."""
    out = []
    for spec in derived.values():
        table, key = spec["references"].split(".")
        exists = conn.execute("select to_regclass(%s)", (f"raw.{table}",)).fetchone()[0]
        if spec["column"] in entity.column_names and exists is not None:
            out.append((spec["column"], table, key))
    return out


@dataclass(frozen=True)
class Lookup:
    """Row ``b``'s references in SQL: left joins to each referenced table's distinct keys
    (hash joins, linear whatever ``work_mem``, as the gate's
    :func:`crmwh.quality.profile.derived_sql`), whether ``b`` is an orphan, its reason."""

    joins: sql.Composable
    orphan: sql.Composable
    reason: sql.Composable


def lookup(refs: list[tuple[str, str, str]]) -> Lookup:
    joins, missing, reasons = [], [], []
    for i, (col, table, key) in enumerate(refs):
        parts = {"c": sql.Identifier(col), "k": sql.Identifier(key),
                 "t": sql.Identifier("raw", table), "a": sql.Identifier(f"ref_{i}")}
        joins.append(sql.SQL("left join (select distinct {k} from {t}) {a} on {a}.{k} = b.{c}"
                             ).format(**parts))
        gone = sql.SQL("(b.{c} is not null and {a}.{k} is null)").format(**parts)
        missing.append(gone)
        reasons.append(sql.SQL("case when {m} then {text} end").format(
            m=gone, text=sql.Literal(f"{col} not in raw.{table} yet")))
    if not refs:
        return Lookup(sql.SQL(""), sql.SQL("false"), sql.SQL("null"))
    return Lookup(sql.SQL(" ").join(joins), sql.SQL(" or ").join(missing),
                  sql.SQL("'waiting for parent: ' || concat_ws('; ', {})").format(
                      sql.SQL(", ").join(reasons)))


def park_statement(entity: Entity, refs: list[tuple[str, str, str]]) -> sql.Composed:
    """Move the batch's orphans from raw to the parking; returns (moved out, parked)."""
    found = lookup(refs)
    return sql.SQL("""
        with orphans as (
            select b.ctid as tid, {reason} as reason from {table} b {joins}
            where b._batch_id = %(batch)s and ({orphan})),
        gone as (
            delete from {table} b using orphans o where b.ctid = o.tid
            returning b.*, o.reason as _reason),
        moved as (
            insert into quarantine.parked
                (batch_id, source, entity, source_ref, reason, row_hash, payload, parked_on)
            select %(batch)s, %(source)s, %(entity)s, g._source_ref, g._reason,
                   g._row_hash, to_jsonb(g) - '_reason', %(day)s
            from gone g
            on conflict (source, entity, row_hash) do nothing
            returning 1)
        select (select count(*) from gone), (select count(*) from moved)""").format(
        table=sql.Identifier("raw", entity.table), joins=found.joins, orphan=found.orphan,
        reason=found.reason)


def waiting_statement(entity: Entity, refs: list[tuple[str, str, str]]) -> sql.Composed:
    """The entity's parked rows not settled yet: whether each is still an orphan, and
    whether it waited long enough to expire (``%(expire_on)s``)."""
    found = lookup(refs)
    return sql.SQL("""
        select q.id, q.payload, q.reason, ({orphan}) as orphan,
               q.parked_on <= %(expire_on)s as expired
        from quarantine.parked q
        cross join lateral jsonb_populate_record(null::{table}, q.payload) b
        {joins}
        where q.source = %(source)s and q.entity = %(entity)s and q.settled_at is null""").format(
        table=sql.Identifier("raw", entity.table), joins=found.joins, orphan=found.orphan)


def park(conn: Any, entity: Entity, batch_id: str, derived: dict[str, dict[str, str]],
         as_of_date: date) -> Parked:
    """Move the orphans of a landed batch that passed the gate from ``raw`` to the parking.

    One transaction: the rows leave ``raw``, new versions are parked with their reason,
    and the batch's record moves them from ``rows_loaded`` to ``rows_parked`` (or to
    ``rows_unchanged`` when the version is parked already).
    """
    refs = _references(conn, entity, derived)
    if not refs:
        return Parked(0, 0)
    params = {"batch": batch_id, "source": entity.source, "entity": entity.name,
              "day": as_of_date}
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(WORK_MEM)
        cur.execute(park_statement(entity, refs), params)
        gone, moved = cur.fetchone()
        if gone:
            cur.execute("""update audit.load_batches set rows_loaded = rows_loaded - %s,
                               rows_parked = rows_parked + %s,
                               rows_unchanged = rows_unchanged + %s
                           where batch_id = %s""", (gone, moved, gone - moved, batch_id))
    return Parked(moved, gone - moved)


def settle(conn: Any, entity: Entity, derived: dict[str, dict[str, str]], as_of_date: date,
           run_id: str, park_days: int) -> BatchResult | None:
    """Release the entity's parked rows whose parents landed, expire those that waited
    ``park_days`` nights; one batch of their own, one transaction. None: nothing to settle."""
    refs = _references(conn, entity, derived)
    batch_id = f"{PARKED_PREFIX}{entity.table}__{as_of_date:%Y%m%d}__{uuid.uuid4().hex[:8]}"
    params = {"batch": batch_id, "source": entity.source, "entity": entity.name,
              "expire_on": as_of_date - timedelta(days=park_days),
              "why": f"parent never arrived after {park_days} days"}
    table = sql.Identifier("raw", entity.table)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("select exists (select 1 from quarantine.parked where source = %(source)s "
                    "and entity = %(entity)s and settled_at is null)", params)
        if not cur.fetchone()[0]:
            return None
        cur.execute(WORK_MEM)
        cur.execute(sql.SQL("create temp table _settle on commit drop as {}").format(
            waiting_statement(entity, refs)), params)
        cur.execute("delete from _settle where orphan and not expired")
        if not cur.execute("select count(*) from _settle").fetchone()[0]:
            return None
        names = [*entity.column_names, *META, "_extra"]
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in names)
        r_cols = sql.SQL(", ").join(sql.Identifier("r", c) for c in names)
        cur.execute(sql.SQL("""
            insert into {table} ({cols})
            select {r_cols} from _settle s,
                lateral jsonb_populate_record(
                    null::{table}, s.payload || jsonb_build_object('_batch_id', %(batch)s::text)) r
            where not s.orphan
            on conflict (_row_hash) do nothing""").format(
            table=table, cols=cols, r_cols=r_cols), params)
        loaded = cur.rowcount
        drop_meta = sql.SQL(" - ").join(sql.Literal(m) for m in META)
        cur.execute(sql.SQL("""
            insert into quarantine.rows (batch_id, source, entity, source_ref, reason, payload)
            select %(batch)s, %(source)s, %(entity)s, s.payload->>'_source_ref',
                   %(why)s || ' (' || s.reason || ')', s.payload - {drop_meta}
            from _settle s where s.orphan""").format(drop_meta=drop_meta), params)
        expired = cur.rowcount
        cur.execute("""update quarantine.parked q set settled_at = now(), settled_batch_id = %s,
                           outcome = case when s.orphan then 'expired' else 'released' end
                       from _settle s where s.id = q.id""", (batch_id,))
        settled = cur.rowcount
        result = BatchResult(
            batch_id=batch_id, source=entity.source, entity=entity.name,
            rows_extracted=settled, rows_loaded=loaded,
            rows_unchanged=settled - expired - loaded, rows_quarantined=expired,
            watermark_before=None, watermark_after=None, duration_s=0.0)
        # released rows are gated as a batch of their own; nothing released, nothing to gate
        record_batch(cur, result, as_of_date, run_id, ["quarantine.parked"],
                     "pending" if loaded else "passed")
    return result


def parked_checks(conn: Any, entity: Entity, batch_id: str, run_id: str,
                  as_of_date: date | None) -> list[Check]:
    """Record one row-level check per reason the batch's rows were parked for."""
    found = conn.execute(
        """select reason, count(*) from quarantine.parked where batch_id = %s
           group by reason order by count(*) desc, reason limit 20""", (batch_id,)).fetchall()
    checks = [Check(f"parked: {reason[:200]}", entity.qualified, "row-level", "fail",
                    f"{n} rows parked",
                    "0 rows (they wait in quarantine.parked for their parent: crmwh quarantine "
                    "parked)") for reason, n in found]
    if checks:
        record(conn, entity, batch_id, run_id, checks, as_of_date)
    return checks


def has_orphans(result: GateResult) -> bool:
    """Whether the gate saw an orphan in the batch (a referential check failed)."""
    return any(f.check.startswith("references(") for f in result.failures)
