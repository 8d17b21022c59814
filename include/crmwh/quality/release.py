"""Re-release quarantined rows after a fix, through the normal landing checks.

``crmwh quarantine release --batch B [--reason TEXT]`` takes the rows of batch ``B`` still
in ``quarantine.rows`` (optionally only those whose reason contains TEXT), turns each stored
payload back into the record the source delivered, and lands them as a new batch
``release__<B>__<id>`` with :func:`crmwh.load.landing.land`: typing, required values, ranges and
duplicates are checked exactly as on a nightly load, then the batch's Great Expectations
suite runs on it (a blocking failure moves it back to quarantine). Rows that still fail go
back to quarantine under the release batch, with their reason; rows whose version is
already in ``raw`` count as unchanged. The originals are marked released (``released_at``,
``released_batch_id``), so nothing is lost and nothing lands twice:

``rows selected = not releasable + loaded + unchanged + quarantined again``

Records that could not even be parsed into fields (``{"line": ...}`` payloads) are not
releasable: they stay in quarantine, counted. The release batch never moves a watermark.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from crmwh import source_entities
from crmwh.errors import CrmwhError
from crmwh.extract.base import Extraction, JsonPart
from crmwh.load.batches import BatchResult
from crmwh.load.landing import land
from crmwh.quality.gate import validate_batch
from crmwh.quality.verdict import judge
from crmwh.warehouse import quarantine


@dataclass(frozen=True)
class Release:
    batch_id: str
    release_batch_id: str | None
    rows_selected: int
    rows_not_releasable: int
    rows_loaded: int
    rows_unchanged: int
    rows_quarantined: int
    gate: str  # passed | rejected: <reason> | not run

    @property
    def reconciles(self) -> bool:
        return self.rows_selected == (self.rows_not_releasable + self.rows_loaded
                                      + self.rows_unchanged + self.rows_quarantined)


def _record(payload: dict[str, Any], entity: source_entities.Entity) -> dict[str, Any] | None:
    """The delivered record again: entity columns plus the fields kept in ``_extra``."""
    if not any(c in payload for c in entity.column_names):
        return None
    record = {k: v for k, v in payload.items() if k != "_extra"}
    extra = payload.get("_extra")
    if isinstance(extra, dict):
        record.update({k: v for k, v in extra.items() if k not in record})
    return record


def release(conn: Any, batch_id: str, reason: str | None = None, *, run_id: str = "release",
            gate: bool = True) -> Release:
    """Re-land the quarantined rows of ``batch_id`` (see module doc); ``conn`` autocommit."""
    quarantine.ensure_release_column(conn)
    rows = conn.execute(
        """select id, source, entity, payload from quarantine.rows
           where batch_id = %s and released_at is null
             and (%s::text is null or reason ilike '%%' || %s || '%%')
           order by id""", (batch_id, reason, reason)).fetchall()
    if not rows:
        raise CrmwhError(
            f"no quarantined rows to release for batch {batch_id}"
            + (f" with a reason containing {reason!r}" if reason else ""),
            "list them with: crmwh sql --role pipeline \"select batch_id, reason, count(*) "
            "from quarantine.rows where released_at is null group by 1, 2\"")
    tables = {f"{s}__{e}" for _, s, e, _ in rows}
    if len(tables) != 1:
        raise CrmwhError(f"batch {batch_id} holds rows of {sorted(tables)}",
                         "release one entity at a time")
    entity = source_entities.BY_TABLE[tables.pop()]
    records, releasable_ids = [], []
    for row_id, _, _, payload in rows:
        record = _record(payload, entity)
        if record is not None:
            records.append(record)
            releasable_ids.append(row_id)
    not_releasable = len(rows) - len(records)
    if not records:
        return Release(batch_id, None, len(rows), not_releasable, 0, 0, 0, "not run")

    # the batch's as-of date, else the warehouse's latest: the gate judges the release's
    # freshness against the data's dates, not the wall clock (today only with no history)
    as_of_date = conn.execute(
        """select coalesce(
               (select as_of_date from audit.load_batches where batch_id = %s),
               (select max(as_of_date) from audit.load_batches))""",
        (batch_id,)).fetchone()[0] or date.today()
    new_batch = f"release__{batch_id}__{uuid.uuid4().hex[:8]}"[:120]
    body = ("\n".join(json.dumps(r, default=str) for r in records) + "\n").encode("utf-8")
    extraction = Extraction(json=[JsonPart(ref=f"quarantine:{batch_id}", body=body)])
    with conn.transaction():
        result: BatchResult = land(conn, entity, extraction, batch_id=new_batch, run_id=run_id,
                                   as_of_date=as_of_date, watermark_before=None,
                                   started=time.monotonic())
        conn.execute("""update quarantine.rows set released_at = now(), released_batch_id = %s
                        where id = any(%s)""", (new_batch, releasable_ids))
    loaded, quarantined, outcome = result.rows_loaded, result.rows_quarantined, "not run"
    if gate and loaded:
        checked = validate_batch(conn, entity, new_batch, run_id, as_of_date=as_of_date)
        verdict = judge(conn, checked, entity, new_batch)
        if verdict.failure is None:
            outcome = "passed"
        else:
            moved = verdict.rows_rejected
            loaded, quarantined = loaded - moved, quarantined + moved
            outcome = f"rejected: {verdict.failure}"
    done = Release(batch_id, new_batch, len(rows), not_releasable, loaded,
                   result.rows_unchanged, quarantined, outcome)
    if not done.reconciles:
        raise CrmwhError(f"release of {batch_id} does not reconcile: {asdict(done)}")
    return done
