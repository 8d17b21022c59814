"""Landing: validate extracted rows, land the good ones in ``raw``, quarantine the rest.

Every extracted row ends in exactly one place, and the batch record says so:

* ``loaded``       — a new row version, appended to ``raw.<source>__<entity>``;
* ``unchanged``    — the identical version (same row hash) was already landed,
                     e.g. re-read by the sales look-back window or a rerun;
* ``quarantined``  — in ``quarantine.rows`` with the reason and the batch.

``rows_extracted = rows_loaded + rows_unchanged + rows_quarantined`` holds for
every batch. Landing, quarantine, the batch record and the consumed billing
files commit in one transaction: a load killed midway leaves nothing, and the
watermark only moves when the rows it covers are in.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import date

import pandas as pd
import psycopg

from crmwh.contracts import PG_TYPES, Entity
from crmwh.errors import CrmwhError
from crmwh.extract.base import Extraction
from crmwh.pgcopy import copy_frame

NULLISH = ("nan", "infinity", "-infinity", "inf", "-inf")


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


def new_batch_id(entity: Entity, logical_date: date) -> str:
    return f"{entity.table}_{logical_date:%Y%m%d}_{uuid.uuid4().hex[:10]}"


def _value(col: str, kind: str = "text") -> str:
    """A staged value with empty meaning NULL; text is kept exactly as delivered."""
    if kind == "text":
        return f"nullif(s.\"{col}\", '')"
    return f"nullif(btrim(s.\"{col}\"), '')"


def reason_sql(entity: Entity, trusted: frozenset[str] = frozenset()) -> str:
    """SQL giving, per staged row, why it cannot land (NULL when it can).

    Types are checked with ``pg_input_is_valid`` (PostgreSQL 16+), so the rule is
    exactly what the typed raw column accepts. ``trusted`` columns come from a
    source column whose own type already guarantees the contract type: their
    parse check is skipped (required and minimum checks still apply).
    """
    parts = []
    for c in entity.columns:
        v = _value(c.name, c.type)
        pg = PG_TYPES[c.type]
        if c.required:
            parts.append(f"case when {v} is null then 'missing {c.name}' end")
        if c.type != "text" and c.name not in trusted:
            odd = " or lower(" + v + ") in (" + ", ".join(f"'{x}'" for x in NULLISH) + ")"
            parts.append(f"case when {v} is not null and (not pg_input_is_valid({v}, '{pg}')"
                         f"{odd if c.type in ('numeric', 'timestamptz', 'date') else ''}) "
                         f"then 'bad {c.type} in {c.name}' end")
        if c.min_value is not None:
            parts.append(f"case when {v} is not null and pg_input_is_valid({v}, '{pg}') "
                         f"and lower({v}) not in ('nan') and {v}::{pg} < {c.min_value!r} "
                         f"then '{c.name} below {c.min_value:g}' end")
    return "nullif(concat_ws('; ', " + ", ".join(parts) + "), '')"


def _typed(entity: Entity) -> str:
    return ", ".join(f"{_value(c.name, c.type)}::{PG_TYPES[c.type]} as \"{c.name}\""
                     for c in entity.columns)


def _hashed_good(entity: Entity, trusted: frozenset[str] = frozenset()) -> str:
    """Valid staged rows, typed, with the row hash over the typed values (canonical:
    the same row in another time zone or number format hashes the same)."""
    row = ", ".join(f't."{c}"' for c in entity.column_names)
    return (f"select t.*, md5(row({row}, t._extra)::text) as _row_hash from ("
            f"select {_typed(entity)}, s._extra, s._source_ref, s._ord from _stage s "
            f"where {reason_sql(entity, trusted)} is null) t")


def frame_for_stage(entity: Entity, frame: pd.DataFrame) -> pd.DataFrame:
    """Delivered rows as the staging table takes them: contract columns as text,
    unknown fields folded into ``_extra`` (schema drift is kept, never dropped)."""
    missing = [c.name for c in entity.columns if c.required and c.name not in frame.columns]
    if missing and len(frame):
        raise CrmwhError(
            f"{entity.source} delivered {entity.name} without required column(s) "
            f"{', '.join(missing)}",
            "the source's schema changed: update include/crmwh/contracts.py or fix the source",
        )
    known = set(entity.column_names) | {"_source_ref"}
    out = pd.DataFrame({c: frame[c] if c in frame.columns else None
                        for c in entity.column_names}, index=frame.index)
    extra_cols = [c for c in frame.columns if c not in known]
    if extra_cols:
        out["_extra"] = [
            json.dumps({k: v for k, v in zip(extra_cols, row, strict=True) if v is not None},
                       sort_keys=True) for row in frame[extra_cols].itertuples(index=False)
        ]
        out["_extra"] = out["_extra"].where(out["_extra"] != "{}", None)
    else:
        out["_extra"] = None
    out["_source_ref"] = frame["_source_ref"] if "_source_ref" in frame.columns else None
    return out


def stage(cur: psycopg.Cursor, entity: Entity, extraction: Extraction) -> int:
    """COPY the extracted rows into the session's ``_stage`` table; return the row count."""
    if extraction.copy_into is not None:
        return extraction.copy_into(cur, "_stage", entity.column_names + ["_extra", "_source_ref"])
    return copy_frame(cur, "_stage", frame_for_stage(entity, extraction.frame))


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


def land(conn: psycopg.Connection, entity: Entity, extraction: Extraction, *, batch_id: str,
         run_id: str, logical_date: date, watermark_before: str | None,
         started: float | None = None) -> BatchResult:
    """Validate and land one batch in a single transaction; return its reconciliation.

    Rows are staged as text with COPY, checked and typed in SQL, and appended to
    raw with ``on conflict (_row_hash) do nothing``: an identical version already
    landed (look-back re-reads, reruns) is counted ``unchanged``, a second copy in
    the same batch is quarantined as a duplicate.
    """
    started = started or time.monotonic()
    cols = ", ".join(f'"{c}"' for c in entity.column_names)
    trusted = extraction.trusted_columns
    reason = reason_sql(entity, trusted)
    good = _hashed_good(entity, trusted)
    meta = {"batch": batch_id, "source": entity.source, "entity": entity.name}
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("set local timezone = 'UTC'")
        text_cols = ", ".join(f'"{c}" text' for c in entity.column_names)
        cur.execute(f"create temp table _stage ({text_cols}, _extra jsonb, _source_ref text, "
                    "_ord bigserial) on commit drop")
        staged = stage(cur, entity, extraction)
        cur.execute(
            f"""insert into quarantine.rows (batch_id, source, entity, source_ref, reason, payload)
                select %(batch)s, %(source)s, %(entity)s, s._source_ref, {reason},
                       to_jsonb(s) - '_ord' - '_source_ref'
                from _stage s where {reason} is not null""", meta)
        invalid = cur.rowcount
        cur.execute(
            f"""insert into {entity.qualified}
                    ({cols}, _batch_id, _extracted_at, _source_ref, _row_hash, _extra)
                select {cols}, %(batch)s, now(), _source_ref, _row_hash, _extra
                from ({good}) g
                on conflict (_row_hash) do nothing""", meta)
        loaded = cur.rowcount
        skipped = staged - invalid - loaded
        duplicates = 0
        if skipped:
            # copies of a row landed by this very batch are duplicates, not unchanged rows
            cur.execute(
                f"""insert into quarantine.rows (batch_id, source, entity, source_ref, reason,
                                                 payload)
                    select %(batch)s, %(source)s, %(entity)s, d._source_ref,
                           'duplicate of another row in the same batch',
                           to_jsonb(d) - '_ord' - '_source_ref' - '_row_hash' - '_rn'
                    from (select g.*, row_number() over (partition by g._row_hash
                                                         order by g._ord) as _rn
                          from ({good}) g
                          where g._row_hash in (select _row_hash from {entity.qualified}
                                                where _batch_id = %(batch)s)) d
                    where d._rn > 1""", meta)
            duplicates = cur.rowcount
        for reject in extraction.rejects:
            cur.execute(
                """insert into quarantine.rows (batch_id, source, entity, source_ref, reason,
                                                payload)
                   values (%(batch)s, %(source)s, %(entity)s, %(ref)s, %(reason)s, %(payload)s)""",
                {**meta, "ref": reject.source_ref, "reason": reject.reason,
                 "payload": json.dumps(reject.payload)})
        for f in extraction.files:
            cur.execute(
                """insert into audit.billing_files
                   (file_name, sha256, drop_date, entity, batch_id, rows)
                   values (%s, %s, %s, %s, %s, %s)""",
                (f.name, f.sha256, f.drop_date, entity.name, batch_id, f.rows),
            )
        quarantined = invalid + duplicates + len(extraction.rejects)
        result = BatchResult(
            batch_id=batch_id, source=entity.source, entity=entity.name,
            rows_extracted=staged + len(extraction.rejects), rows_loaded=loaded,
            rows_unchanged=skipped - duplicates, rows_quarantined=quarantined,
            watermark_before=watermark_before,
            watermark_after=extraction.watermark_after or watermark_before,
            duration_s=round(time.monotonic() - started, 3),
        )
        if not result.reconciles:
            raise CrmwhError(f"batch {batch_id} does not reconcile: {result}")
        cur.execute(
            """insert into audit.load_batches
               (batch_id, run_id, source, entity, logical_date, status, rows_extracted,
                rows_loaded, rows_unchanged, rows_quarantined, watermark_before, watermark_after,
                source_refs, finished_at, duration_s)
               values (%s, %s, %s, %s, %s, 'loaded', %s, %s, %s, %s, %s, %s, %s, now(), %s)""",
            (batch_id, run_id, entity.source, entity.name, logical_date,
             result.rows_extracted, loaded, result.rows_unchanged, quarantined,
             watermark_before, result.watermark_after, extraction.source_refs[:500],
             result.duration_s),
        )
    return result


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
