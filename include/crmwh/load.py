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

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import psycopg

from crmwh.contracts import Entity
from crmwh.errors import CrmwhError
from crmwh.extract.base import Extraction
from crmwh.pgcopy import copy_frame

SEP = "\x1f"
TRUE = {"true", "t", "1", "yes", "y"}
FALSE = {"false", "f", "0", "no", "n"}


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


def _canonical(column, kind: str, values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(canonical text or None, parse-failed mask) for one column."""
    text = values.where(values.notna(), None)
    present = text.notna()
    if kind == "text":
        return text, pd.Series(False, index=values.index)
    if kind in ("int", "numeric"):
        num = pd.to_numeric(text, errors="coerce")
        bad = present & num.isna()
        if kind == "int":
            bad |= present & num.notna() & (num != np.floor(num))
            out = num.map(lambda v: None if v != v else str(int(v)))
        else:
            out = num.round(4).map(lambda v: None if v != v else f"{v:.4f}")
        return out.astype(object), bad
    if kind == "bool":
        low = text.str.lower()
        out = pd.Series(
            np.where(low.isin(TRUE), "true", np.where(low.isin(FALSE), "false", None)),
            index=values.index,
            dtype=object,
        )
        return out, present & out.isna()
    if kind == "date":
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
        out = parsed.dt.strftime("%Y-%m-%d").astype(object)
        return out.where(parsed.notna(), None), present & parsed.isna()
    if kind == "timestamptz":
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        out = parsed.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").astype(object)
        return out.where(parsed.notna(), None), present & parsed.isna()
    raise ValueError(kind)


def validate(entity: Entity, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split delivered rows into canonical good rows and quarantined rows with reasons.

    Returns ``(good, bad)``: ``good`` has the contract columns as canonical text
    plus ``_source_ref``, ``_extra`` (JSON of unknown fields) and ``_row_hash``;
    ``bad`` has ``_source_ref``, ``reason`` and ``payload`` (the row as delivered).
    """
    known = set(entity.column_names) | {"_source_ref"}
    missing = [c.name for c in entity.columns if c.required and c.name not in frame.columns]
    if missing and len(frame):
        raise CrmwhError(
            f"{entity.source} delivered {entity.name} without required column(s) "
            f"{', '.join(missing)}",
            "the source's schema changed: update include/crmwh/contracts.py or fix the source",
        )
    reasons = pd.Series("", index=frame.index, dtype=object)
    canon = pd.DataFrame(index=frame.index)
    for col in entity.columns:
        values = (
            frame[col.name]
            if col.name in frame.columns
            else pd.Series(None, index=frame.index, dtype=object)
        )
        values = values.where(values.notna() & (values.astype(str).str.strip() != ""), None)
        out, bad = _canonical(col, col.type, values)
        reasons = reasons.where(~bad, reasons + f"bad {col.type} in {col.name}; ")
        if col.required:
            reasons = reasons.where(values.notna(), reasons + f"missing {col.name}; ")
        if col.min_value is not None:
            below = pd.to_numeric(out, errors="coerce") < col.min_value
            reasons = reasons.where(~below, reasons + f"{col.name} below {col.min_value:g}; ")
        canon[col.name] = out
    extra_cols = [c for c in frame.columns if c not in known]
    if extra_cols:
        sub = frame[extra_cols]
        canon["_extra"] = [
            json.dumps(
                {k: v for k, v in zip(extra_cols, row, strict=True) if v is not None},
                sort_keys=True,
            )
            for row in sub.itertuples(index=False, name=None)
        ]
        canon["_extra"] = canon["_extra"].where(canon["_extra"] != "{}", None)
    else:
        canon["_extra"] = None
    joined = canon[entity.column_names[0]].fillna(r"\N").astype(str)
    for name in entity.column_names[1:] + ["_extra"]:
        joined = joined + SEP + canon[name].fillna(r"\N").astype(str)
    canon["_row_hash"] = [hashlib.md5(s.encode()).hexdigest() for s in joined]
    canon["_source_ref"] = frame["_source_ref"].to_numpy()
    dup = canon["_row_hash"].duplicated() & (reasons == "")
    reasons = reasons.where(~dup, "duplicate of another row in the same batch; ")
    is_bad = reasons != ""
    payload_cols = [c for c in frame.columns if c != "_source_ref"]
    bad = pd.DataFrame(
        {
            "_source_ref": frame.loc[is_bad, "_source_ref"],
            "reason": reasons[is_bad].str.rstrip("; "),
            "payload": [
                json.dumps(dict(zip(payload_cols, row, strict=True)), default=str)
                for row in frame.loc[is_bad, payload_cols].itertuples(index=False, name=None)
            ],
        }
    )
    return canon[~is_bad].reset_index(drop=True), bad.reset_index(drop=True)


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


def land(
    conn: psycopg.Connection,
    entity: Entity,
    extraction: Extraction,
    *,
    batch_id: str,
    run_id: str,
    logical_date: date,
    watermark_before: str | None,
    started: float | None = None,
) -> BatchResult:
    """Validate and land one batch in a single transaction; return its reconciliation."""
    started = started or time.monotonic()
    good, bad = validate(entity, extraction.frame)
    for reject in extraction.rejects:
        bad.loc[len(bad)] = [reject.source_ref, reject.reason, json.dumps(reject.payload)]
    extracted = extraction.rows_extracted
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("set local timezone = 'UTC'")
        cols = entity.column_names + ["_extra", "_row_hash", "_source_ref"]
        cur.execute(
            f"create temp table _land (like {entity.qualified} including defaults) on commit drop"
        )
        copy_frame(cur, "_land", good[cols])
        names = ", ".join(f'"{c}"' for c in entity.column_names)
        picked = ", ".join(f't."{c}"' for c in entity.column_names)
        cur.execute(
            f"""insert into {entity.qualified}
                    ({names}, _batch_id, _extracted_at, _source_ref, _row_hash, _extra)
                select {picked}, %(batch)s, now(), t._source_ref, t._row_hash, t._extra
                from _land t
                where not exists (select 1 from {entity.qualified} r
                                  where r._row_hash = t._row_hash)""",
            {"batch": batch_id},
        )
        loaded = cur.rowcount
        if len(bad):
            q = bad.rename(columns={"_source_ref": "source_ref"})
            q.insert(0, "entity", entity.name)
            q.insert(0, "source", entity.source)
            q.insert(0, "batch_id", batch_id)
            copy_frame(cur, "quarantine.rows", q)
        for f in extraction.files:
            cur.execute(
                """insert into audit.billing_files
                   (file_name, sha256, drop_date, entity, batch_id, rows)
                   values (%s, %s, %s, %s, %s, %s)""",
                (f.name, f.sha256, f.drop_date, entity.name, batch_id, f.rows),
            )
        result = BatchResult(
            batch_id=batch_id,
            source=entity.source,
            entity=entity.name,
            rows_extracted=extracted,
            rows_loaded=loaded,
            rows_unchanged=len(good) - loaded,
            rows_quarantined=len(bad),
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
            (
                batch_id,
                run_id,
                entity.source,
                entity.name,
                logical_date,
                extracted,
                loaded,
                result.rows_unchanged,
                len(bad),
                watermark_before,
                result.watermark_after,
                extraction.source_refs[:500],
                result.duration_s,
            ),
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
