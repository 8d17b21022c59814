"""Quarantine: rows that cannot land go to ``quarantine.rows`` with their reason.

Rows of ``_typed`` with a reason, records that could not be split into fields
(``_rejects``), second copies within a batch, rows a typed source streamed into raw
that fail a check, and whole batches the quality gate rejected.
"""

from __future__ import annotations

import psycopg

from crmwh.extract.typed import checks, failing_sql, payload_sql, reason_sql
from crmwh.load.append import META
from crmwh.load.batches import mark_rejected
from crmwh.load.files import forget_files
from crmwh.source_entities import Entity

DUPLICATE = "duplicate of another row in the same batch"
QUARANTINE = "insert into quarantine.rows (batch_id, source, entity, source_ref, reason, payload)"


def _payload(alias: str) -> str:
    return f"to_jsonb({alias}) - " + " - ".join(f"'{m}'" for m in META)


def quarantine_typed(cur: psycopg.Cursor, entity: Entity, meta: dict) -> int:
    """Rows of ``_typed`` with a reason not to land."""
    cur.execute(f"""{QUARANTINE}
        select %(batch)s, %(source)s, %(entity)s, t._source_ref, t._reason, {payload_sql(entity)}
        from _typed t where t._reason is not null""", meta)
    return cur.rowcount


def quarantine_rejects(cur: psycopg.Cursor, meta: dict) -> int:
    """Records that could not be split into fields (``_rejects``)."""
    cur.execute(f"""{QUARANTINE}
        select %(batch)s, %(source)s, %(entity)s, source_ref, reason, payload
        from _rejects""", meta)
    return cur.rowcount


def quarantine_good_copies(cur: psycopg.Cursor, meta: dict) -> int:
    """Second copies among the good rows in ``_good`` that raw does not have yet."""
    cur.execute(f"""{QUARANTINE}
        select %(batch)s, %(source)s, %(entity)s, _source_ref, '{DUPLICATE}',
               to_jsonb(g) - '_source_ref' - '_row_hash' - '_ord' - '_rn' - '_seen'
        from _good g where _rn > 1 and not _seen""", meta)
    return cur.rowcount


def quarantine_invalid_raw(cur: psycopg.Cursor, entity: Entity, meta: dict,
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


def quarantine_copies(cur: psycopg.Cursor, entity: Entity, meta: dict) -> int:
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
        forget_files(cur, batch_id)
        mark_rejected(cur, batch_id, reason, moved)
    return moved


def supersede_rejected(cur: psycopg.Cursor, entity: Entity, batch_id: str) -> int:
    """The rows still held for the entity's rejected batches are delivered again by this
    batch (a rejected batch leaves its watermark and its files as they were, so the next
    run reads all of it again): they leave the held rows, marked released into it, so
    quarantine never holds the same delivered row twice."""
    cur.execute(
        """update quarantine.rows q set released_at = now(), released_batch_id = %(batch)s
           from audit.load_batches b
           where b.batch_id = q.batch_id and b.source = %(source)s and b.entity = %(entity)s
             and b.gate_state = 'rejected' and q.released_at is null
             and q.batch_id <> %(batch)s""",
        {"batch": batch_id, "source": entity.source, "entity": entity.name})
    return cur.rowcount
