"""Landing one batch: every step of :mod:`crmwh.load` in a single transaction."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date

import psycopg

from crmwh.errors import CrmwhError
from crmwh.extract.base import Extraction
from crmwh.extract.typed import fill_typed
from crmwh.load.append import META, append_all, append_new
from crmwh.load.batches import BatchResult, record_batch
from crmwh.load.bulk import restore_indexes, take_indexes
from crmwh.load.files import record_file_events, record_files
from crmwh.load.quarantine import (
    quarantine_good_copies,
    quarantine_invalid_raw,
    quarantine_rejects,
    quarantine_typed,
    supersede_rejected,
)
from crmwh.pgcopy import quote_ident
from crmwh.source_entities import Entity

log = logging.getLogger(__name__)

SESSION = (
    "set local timezone = 'UTC'",
    "set local datestyle = 'ISO, MDY'",
    "set local work_mem = '256MB'",
    "set local maintenance_work_mem = '512MB'",
)


@dataclass
class _Outcome:
    watermark: str | None
    copied: int = 0  # rows copied into the session (the extraction's rejects not counted)
    invalid: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0

    @property
    def unchanged(self) -> int:
        return self.copied - self.invalid - self.loaded - self.duplicates


def _create_rejects(cur: psycopg.Cursor, extraction: Extraction) -> None:
    """``_rejects``: records that could not be split into fields (the scratch copy adds
    its own)."""
    cur.execute("create temp table _rejects (source_ref text, reason text, payload jsonb) "
                "on commit drop")
    if extraction.rejects:
        cur.executemany("insert into _rejects values (%s, %s, %s)",
                        [(r.source_ref, r.reason, json.dumps(r.payload))
                         for r in extraction.rejects])


def _newest(cur: psycopg.Cursor, column: str) -> str | None:
    """The newest value of a typed timestamp column among the rows of ``_typed`` (ISO, UTC)."""
    return cur.execute(f"select to_char(max(t.{quote_ident(column)}), "
                       "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') from _typed t").fetchone()[0]


def _land_rows(cur: psycopg.Cursor, entity: Entity, extraction: Extraction, meta: dict,
               outcome: _Outcome) -> None:
    indexes = take_indexes(cur, entity)
    if extraction.typed is not None and indexes is not None:
        now = cur.execute("select now()").fetchone()[0]
        outcome.copied = extraction.typed(
            cur, entity.qualified, [*entity.column_names, *META, "_extra"],
            {"_batch_id": meta["batch"], "_extracted_at": now})
        outcome.invalid = quarantine_invalid_raw(cur, entity, meta, extraction.non_null)
        outcome.loaded = outcome.copied - outcome.invalid
    else:
        outcome.copied = fill_typed(cur, entity, extraction)
        if extraction.watermark_column:
            newest = _newest(cur, extraction.watermark_column)
            if newest and (outcome.watermark is None or newest > outcome.watermark):
                outcome.watermark = newest
        outcome.invalid = quarantine_typed(cur, entity, meta)
        if indexes is None:
            outcome.loaded = append_new(cur, entity, meta)
            outcome.duplicates = quarantine_good_copies(cur, meta)
            return
        outcome.loaded = append_all(cur, entity, meta)
    outcome.duplicates = restore_indexes(cur, entity, meta, indexes, extraction.distinct_rows)
    outcome.loaded -= outcome.duplicates


def land(conn: psycopg.Connection, entity: Entity, extraction: Extraction, *, batch_id: str,
         run_id: str, as_of_date: date, watermark_before: str | None,
         started: float | None = None, gate_state: str = "pending",
         rereads_rejected: bool = False) -> BatchResult:
    """Check and land one batch in a single transaction; return its reconciliation. The
    batch waits for its gate (``pending``) unless told otherwise. ``rereads_rejected``: the
    batch is a source's next read, holding every row of the entity's rejected batches
    again (their quarantined rows are superseded, :func:`supersede_rejected`)."""
    started = started or time.monotonic()
    meta = {"batch": batch_id, "source": entity.source, "entity": entity.name}
    outcome = _Outcome(extraction.watermark_after)
    with conn.transaction(), conn.cursor() as cur:
        for setting in SESSION:
            cur.execute(setting)
        _create_rejects(cur, extraction)
        _land_rows(cur, entity, extraction, meta, outcome)
        outcome.rejected = quarantine_rejects(cur, meta)
        record_files(cur, entity, batch_id, extraction.files)
        record_file_events(cur, entity, batch_id, extraction.file_events)
        result = BatchResult(
            batch_id=batch_id, source=entity.source, entity=entity.name,
            rows_extracted=outcome.copied + outcome.rejected, rows_loaded=outcome.loaded,
            rows_unchanged=outcome.unchanged,
            rows_quarantined=outcome.invalid + outcome.duplicates + outcome.rejected,
            watermark_before=watermark_before,
            watermark_after=outcome.watermark or watermark_before,
            duration_s=round(time.monotonic() - started, 3),
        )
        if not result.reconciles or result.rows_unchanged < 0:
            raise CrmwhError(f"batch {batch_id} does not reconcile: {result}")
        record_batch(cur, result, as_of_date, run_id, extraction.source_refs, gate_state)
        if rereads_rejected:
            superseded = supersede_rejected(cur, entity, batch_id)
            if superseded:
                log.info("%s: %d quarantined rows of rejected batches delivered again in %s",
                         entity.table, superseded, batch_id)
    return result
