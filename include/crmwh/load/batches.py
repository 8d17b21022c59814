"""Batches: their ids, their reconciled counts in ``audit.load_batches``, watermarks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import psycopg

from crmwh.source_entities import Entity


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
    rows_parked: int = 0  # waiting for their parent in quarantine.parked (the gate parks them)

    @property
    def reconciles(self) -> bool:
        return self.rows_extracted == (self.rows_loaded + self.rows_unchanged + self.rows_parked
                                       + self.rows_quarantined)


def new_batch_id(entity: Entity, as_of_date: date) -> str:
    return f"{entity.table}_{as_of_date:%Y%m%d}_{uuid.uuid4().hex[:10]}"


def record_batch(cur: psycopg.Cursor, result: BatchResult, as_of_date: date, run_id: str,
                 source_refs: list[str], gate_state: str = "pending") -> None:
    """The batch's row in ``audit.load_batches``, status ``loaded``, its gate ``pending``
    (staging reads none of its rows until the gate passed it)."""
    cur.execute(
        """insert into audit.load_batches
           (batch_id, run_id, source, entity, as_of_date, status, gate_state, rows_extracted,
            rows_loaded, rows_unchanged, rows_parked, rows_quarantined, watermark_before,
            watermark_after, source_refs, finished_at, duration_s)
           values (%s, %s, %s, %s, %s, 'loaded', %s, %s, %s, %s, %s, %s, %s, %s, %s, now(),
                   %s)""",
        (result.batch_id, run_id, result.source, result.entity, as_of_date, gate_state,
         result.rows_extracted, result.rows_loaded, result.rows_unchanged, result.rows_parked,
         result.rows_quarantined, result.watermark_before, result.watermark_after,
         source_refs[:500], result.duration_s),
    )


def mark_rejected(cur: psycopg.Cursor, batch_id: str, reason: str, moved: int) -> None:
    """Mark a batch ``rejected``: its ``moved`` rows left raw for quarantine."""
    cur.execute(
        """update audit.load_batches set status = 'rejected', gate_state = 'rejected', error = %s,
               rows_loaded = 0, rows_quarantined = rows_quarantined + %s
           where batch_id = %s""",
        (reason, moved, batch_id),
    )


def mark_passed(conn: psycopg.Connection, batch_id: str) -> None:
    """The batch passed its gate: staging reads its rows from now on."""
    conn.execute("update audit.load_batches set gate_state = 'passed' where batch_id = %s",
                 (batch_id,))


def pending_batches(conn: psycopg.Connection, sources: list[str]) -> list[dict]:
    """The batches of ``sources`` landed but not gated yet (by any run: one killed between
    landing and its gate left its batches so), oldest first."""
    return [{"batch_id": b, "source": s, "entity": e} for b, s, e in conn.execute(
        """select batch_id, source, entity from audit.load_batches
           where gate_state = 'pending' and source = any(%s) order by started_at, batch_id""",
        (sources,))]


def last_watermark(conn: psycopg.Connection, entity: Entity) -> str | None:
    row = conn.execute(
        """select watermark_after from audit.load_batches
           where source = %s and entity = %s and status = 'loaded' and watermark_after is not null
           order by finished_at desc limit 1""",
        (entity.source, entity.name),
    ).fetchone()
    return row[0] if row else None
