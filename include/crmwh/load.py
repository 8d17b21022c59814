"""Landing: check extracted rows, land the good ones in ``raw``, quarantine the rest.

Every extracted row ends in exactly one place, and the batch record says so:

* ``loaded``       — a new row version, appended to ``raw.<source>__<entity>``;
* ``unchanged``    — the identical version (same row hash) was already landed,
                     e.g. re-read by the sales look-back window or a rerun;
* ``quarantined``  — in ``quarantine.rows`` with the reason and the batch.

``rows_extracted = rows_loaded + rows_unchanged + rows_quarantined`` holds for
every batch. Landing, quarantine, the batch record and the consumed billing
files commit in one transaction: a load killed midway leaves nothing, and the
watermark only moves when the rows it covers are in.

All of it is set-based SQL in one session:

1. the rows are staged as delivered (:mod:`crmwh.extract.stage`) and typed and
   checked into ``_typed`` (:mod:`crmwh.extract.typed`), or come typed and hashed
   by the source itself (sales); each row carries the reason it cannot land, if any;
2. rows with a reason go to quarantine;
3. the good rows get their row hash (:func:`crmwh.extract.base.row_hash_sql`) and
   are appended to raw, except versions raw already has (unchanged) and second
   copies within the batch (quarantined as duplicates).

A first load into an empty raw table is landed in bulk: the table is locked,
its indexes are dropped, rows are appended without per-row index upkeep (a
typed source streams them straight into raw), copies within the batch are
found with one hash aggregate, and the indexes are built again at the end.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import date

import psycopg

from crmwh.contracts import Entity
from crmwh.errors import CrmwhError
from crmwh.extract.base import Extraction
from crmwh.extract.typed import checks, failing_sql, fill_typed, hash_sql, payload_sql, reason_sql
from crmwh.pgcopy import quote_ident

SESSION = (
    "set local timezone = 'UTC'",
    "set local datestyle = 'ISO, MDY'",
    "set local work_mem = '256MB'",
    "set local maintenance_work_mem = '512MB'",
)
META = ("_batch_id", "_extracted_at", "_source_ref", "_row_hash")
DUPLICATE = "duplicate of another row in the same batch"
QUARANTINE = "insert into quarantine.rows (batch_id, source, entity, source_ref, reason, payload)"


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    source: str
    entity: str
    rows_extracted: int
    rows_loaded: int
    rows_unchanged: int
    rows_quarantined: int
    watermark_before: str | None
    watermark_after: str | None
    duration_s: float

    @property
    def reconciles(self) -> bool:
        return self.rows_extracted == self.rows_loaded + self.rows_unchanged + self.rows_quarantined


@dataclass
class _Outcome:
    watermark: str | None
    staged: int = 0
    invalid: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0

    @property
    def unchanged(self) -> int:
        return self.staged - self.invalid - self.loaded - self.duplicates


def new_batch_id(entity: Entity, logical_date: date) -> str:
    return f"{entity.table}_{logical_date:%Y%m%d}_{uuid.uuid4().hex[:10]}"


def _cols(entity: Entity, alias: str = "") -> str:
    return ", ".join(alias + quote_ident(c) for c in entity.column_names)


def _create_rejects(cur: psycopg.Cursor, extraction: Extraction) -> None:
    """``_rejects``: records that could not be split into fields (staging adds its own)."""
    cur.execute("create temp table _rejects (source_ref text, reason text, payload jsonb) "
                "on commit drop")
    if extraction.rejects:
        cur.executemany("insert into _rejects values (%s, %s, %s)",
                        [(r.source_ref, r.reason, json.dumps(r.payload))
                         for r in extraction.rejects])


# --- landing ----------------------------------------------------------------------


def _payload(alias: str) -> str:
    return f"to_jsonb({alias}) - " + " - ".join(f"'{m}'" for m in META)


def _quarantine_typed(cur: psycopg.Cursor, entity: Entity, meta: dict) -> int:
    cur.execute(f"""{QUARANTINE}
        select %(batch)s, %(source)s, %(entity)s, t._source_ref, t._reason, {payload_sql(entity)}
        from _typed t where t._reason is not null""", meta)
    return cur.rowcount


def _insert(entity: Entity, select: str) -> str:
    return (f"insert into {entity.qualified} ({_cols(entity)}, _batch_id, _extracted_at, "
            f"_source_ref, _row_hash, _extra) {select}")


def _land_all(cur: psycopg.Cursor, entity: Entity, meta: dict) -> int:
    """Append every good row (bulk: the table was empty and has no indexes)."""
    cur.execute(_insert(entity, f"""
        select {_cols(entity)}, %(batch)s, now(), _source_ref,
               {hash_sql(entity)}, _extra
        from _typed t where _reason is null"""), meta)
    return cur.rowcount


def _land_new(cur: psycopg.Cursor, entity: Entity, meta: dict, outcome: _Outcome) -> None:
    """Append the good rows raw does not have yet; second copies are duplicates."""
    cur.execute(f"""
        create temp table _good on commit drop as
        select g.*, row_number() over (partition by g._row_hash order by g._ord) as _rn,
               exists (select 1 from {entity.qualified} r
                       where r._row_hash = g._row_hash) as _seen
        from (select {_cols(entity, 't.')}, t._extra, t._source_ref, t._ord,
                     {hash_sql(entity)} as _row_hash
              from _typed t where t._reason is null) g""")
    cur.execute(_insert(entity, f"""
        select {_cols(entity)}, %(batch)s, now(), _source_ref, _row_hash, _extra
        from _good where _rn = 1 and not _seen
        on conflict (_row_hash) do nothing"""), meta)
    outcome.loaded = cur.rowcount
    cur.execute(f"""{QUARANTINE}
        select %(batch)s, %(source)s, %(entity)s, _source_ref, '{DUPLICATE}',
               to_jsonb(g) - '_source_ref' - '_row_hash' - '_ord' - '_rn' - '_seen'
        from _good g where _rn > 1 and not _seen""", meta)
    outcome.duplicates = cur.rowcount


def _quarantine_invalid_raw(cur: psycopg.Cursor, entity: Entity, meta: dict,
                            non_null: frozenset[str]) -> int:
    """Rows a typed source streamed straight into raw that fail a check move out."""
    conditions = checks(entity, False, non_null)
    if not conditions:
        return 0
    cur.execute(f"""
        with bad as (delete from {entity.qualified} t
                     where t._batch_id = %(batch)s and ({failing_sql(conditions)}) returning t.*)
        {QUARANTINE}
        select %(batch)s, %(source)s, %(entity)s, t._source_ref, {reason_sql(conditions)},
               {_payload('t')}
        from bad t""", meta)
    return cur.rowcount


def _quarantine_copies(cur: psycopg.Cursor, entity: Entity, meta: dict) -> int:
    """Second copies of a row within the batch (bulk) move out of raw; the first stays.

    One hash aggregate finds the copied hashes; the copies are then picked by
    hash from a constant set and deleted by ``ctid``, so no plan depends on
    statistics a freshly filled table does not have.
    """
    copied = cur.execute(f"""
        select array_agg(_row_hash) from (
            select _row_hash from {entity.qualified} where _batch_id = %(batch)s
            group by 1 having count(*) > 1) d""", meta).fetchone()[0]
    if not copied:
        return 0
    cur.execute(f"""
        with gone as (
            delete from {entity.qualified} r where r.ctid = any(array(
                select ctid from (
                    select ctid, row_number() over (partition by _row_hash order by ctid) as n
                    from {entity.qualified}
                    where _batch_id = %(batch)s and _row_hash = any(%(copied)s)) c
                where n > 1))
            returning r.*)
        {QUARANTINE}
        select %(batch)s, %(source)s, %(entity)s, g._source_ref, '{DUPLICATE}',
               {_payload('g')}
        from gone g""", {**meta, "copied": copied})
    return cur.rowcount


def _take_indexes(cur: psycopg.Cursor, entity: Entity) -> list[tuple[str, str]] | None:
    """For a first load into an empty table: lock it, drop its indexes, return them."""
    empty = f"select not exists (select 1 from {entity.qualified})"
    if not cur.execute(empty).fetchone()[0]:
        return None
    cur.execute(f"lock table {entity.qualified} in access exclusive mode")
    if not cur.execute(empty).fetchone()[0]:
        return None
    indexes = cur.execute("""
        select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) from pg_index i
        where i.indrelid = %s::regclass
          and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)""",
                          (entity.qualified,)).fetchall()
    for name, _ in indexes:
        cur.execute(f"drop index {name}")
    return indexes


def _restore_indexes(cur: psycopg.Cursor, entity: Entity, meta: dict,
                     indexes: list[tuple[str, str]], distinct: bool) -> int:
    """Build the dropped indexes again; return the second copies moved to quarantine.

    A source that guarantees distinct rows skips the search for copies, and if
    the unique index finds one after all, the search runs and the build again.
    """
    copies = 0 if distinct else _quarantine_copies(cur, entity, meta)
    try:
        with cur.connection.transaction():
            for _, ddl in indexes:
                cur.execute(ddl)
    except psycopg.errors.UniqueViolation:
        copies += _quarantine_copies(cur, entity, meta)
        for _, ddl in indexes:
            cur.execute(ddl)
    return copies


def _newest(cur: psycopg.Cursor, column: str) -> str | None:
    """The newest value of a typed timestamp column among the staged rows (ISO, UTC)."""
    return cur.execute(f"select to_char(max(t.{quote_ident(column)}), "
                       "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') from _typed t").fetchone()[0]


def _land_rows(cur: psycopg.Cursor, entity: Entity, extraction: Extraction, meta: dict,
               outcome: _Outcome) -> None:
    indexes = _take_indexes(cur, entity)
    if extraction.typed is not None and indexes is not None:
        now = cur.execute("select now()").fetchone()[0]
        outcome.staged = extraction.typed(
            cur, entity.qualified, [*entity.column_names, *META, "_extra"],
            {"_batch_id": meta["batch"], "_extracted_at": now})
        outcome.invalid = _quarantine_invalid_raw(cur, entity, meta, extraction.non_null)
        outcome.loaded = outcome.staged - outcome.invalid
    else:
        outcome.staged = fill_typed(cur, entity, extraction)
        if extraction.watermark_column:
            newest = _newest(cur, extraction.watermark_column)
            if newest and (outcome.watermark is None or newest > outcome.watermark):
                outcome.watermark = newest
        outcome.invalid = _quarantine_typed(cur, entity, meta)
        if indexes is None:
            _land_new(cur, entity, meta, outcome)
            return
        outcome.loaded = _land_all(cur, entity, meta)
    outcome.duplicates = _restore_indexes(cur, entity, meta, indexes, extraction.distinct_rows)
    outcome.loaded -= outcome.duplicates


def land(conn: psycopg.Connection, entity: Entity, extraction: Extraction, *, batch_id: str,
         run_id: str, logical_date: date, watermark_before: str | None,
         started: float | None = None) -> BatchResult:
    """Check and land one batch in a single transaction; return its reconciliation."""
    started = started or time.monotonic()
    meta = {"batch": batch_id, "source": entity.source, "entity": entity.name}
    outcome = _Outcome(extraction.watermark_after)
    with conn.transaction(), conn.cursor() as cur:
        for setting in SESSION:
            cur.execute(setting)
        _create_rejects(cur, extraction)
        _land_rows(cur, entity, extraction, meta, outcome)
        cur.execute(f"""{QUARANTINE}
            select %(batch)s, %(source)s, %(entity)s, source_ref, reason, payload
            from _rejects""", meta)
        outcome.rejected = cur.rowcount
        cur.executemany(
            """insert into audit.billing_files
               (file_name, sha256, drop_date, entity, batch_id, rows)
               values (%s, %s, %s, %s, %s, %s)""",
            [(f.name, f.sha256, f.drop_date, entity.name, batch_id, f.rows)
             for f in extraction.files])
        result = BatchResult(
            batch_id=batch_id, source=entity.source, entity=entity.name,
            rows_extracted=outcome.staged + outcome.rejected, rows_loaded=outcome.loaded,
            rows_unchanged=outcome.unchanged,
            rows_quarantined=outcome.invalid + outcome.duplicates + outcome.rejected,
            watermark_before=watermark_before,
            watermark_after=outcome.watermark or watermark_before,
            duration_s=round(time.monotonic() - started, 3),
        )
        if not result.reconciles or result.rows_unchanged < 0:
            raise CrmwhError(f"batch {batch_id} does not reconcile: {result}")
        cur.execute(
            """insert into audit.load_batches
               (batch_id, run_id, source, entity, logical_date, status, rows_extracted,
                rows_loaded, rows_unchanged, rows_quarantined, watermark_before, watermark_after,
                source_refs, finished_at, duration_s)
               values (%s, %s, %s, %s, %s, 'loaded', %s, %s, %s, %s, %s, %s, %s, now(), %s)""",
            (batch_id, run_id, entity.source, entity.name, logical_date,
             result.rows_extracted, result.rows_loaded, result.rows_unchanged,
             result.rows_quarantined, watermark_before, result.watermark_after,
             extraction.source_refs[:500], result.duration_s),
        )
    return result


def last_watermark(conn: psycopg.Connection, entity: Entity) -> str | None:
    row = conn.execute(
        """select watermark_after from audit.load_batches
           where source = %s and entity = %s and status = 'loaded' and watermark_after is not null
           order by finished_at desc limit 1""",
        (entity.source, entity.name),
    ).fetchone()
    return row[0] if row else None


def billing_file_loaded(conn: psycopg.Connection):
    loaded = {(n, s) for n, s in conn.execute("select file_name, sha256 from audit.billing_files")}
    return lambda name, sha: (name, sha) in loaded


def reject_batch(conn: psycopg.Connection, entity: Entity, batch_id: str, reason: str) -> int:
    """Take a batch that failed a blocking quality check out of ``raw``, losing nothing.

    Its rows move to ``quarantine.rows`` with the reason, the batch is marked
    ``rejected`` (so the watermark stays where it was and the next run reads the
    same rows again), and its billing files become loadable again.
    """
    cols = ", ".join(f'"{c}"' for c in entity.column_names)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            f"""insert into quarantine.rows (batch_id, source, entity, source_ref, reason, payload)
                select _batch_id, %(source)s, %(entity)s, _source_ref, %(reason)s,
                       to_jsonb(r) - '_batch_id' - '_extracted_at' - '_source_ref' - '_row_hash'
                from (select {cols}, _batch_id, _extracted_at, _source_ref, _row_hash, _extra
                      from {entity.qualified} where _batch_id = %(batch)s) r""",
            {"source": entity.source, "entity": entity.name, "reason": reason, "batch": batch_id},
        )
        moved = cur.rowcount
        cur.execute(f"delete from {entity.qualified} where _batch_id = %s", (batch_id,))
        cur.execute("delete from audit.billing_files where batch_id = %s", (batch_id,))
        cur.execute(
            """update audit.load_batches set status = 'rejected', error = %s,
                   rows_loaded = 0, rows_quarantined = rows_quarantined + %s
               where batch_id = %s""",
            (reason, moved, batch_id),
        )
    return moved
