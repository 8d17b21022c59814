"""The gate's verdict on a batch: pass, or reject it (its rows to quarantine) and say why.

:func:`enforce` raises one line naming every failed *blocking* check; warnings are
recorded and never raise. :func:`judge` turns that into a verdict and takes a rejected
batch out of ``raw`` (:func:`crmwh.load.quarantine.reject_batch`), losing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmwh.errors import QualityGateFailed
from crmwh.load.batches import mark_passed
from crmwh.load.quarantine import reject_batch
from crmwh.quality.results import GateResult
from crmwh.quality.suites import resolve_entity
from crmwh.source_entities import Entity

FIX = "fix the source or the contract, then rerun the date"
MAX_FAILURES_DETAILED = 5


@dataclass(frozen=True)
class Verdict:
    failure: QualityGateFailed | None = None  # None: the batch passed
    rows_rejected: int = 0  # rows moved from raw to quarantine.rows


def enforce(result: GateResult, entity: Entity | str, batch_id: str) -> None:
    """Raise :class:`QualityGateFailed` if any blocking check failed; warnings never raise."""
    blocking = result.blocking_failures
    if not blocking:
        return
    entity = resolve_entity(entity)
    # Every failed check is named; the observed details only for the first few.
    shown = [f"{f.check} {f.observed}" for f in blocking[:MAX_FAILURES_DETAILED]]
    rest = [f.check for f in blocking[MAX_FAILURES_DETAILED:]]
    checks = "; ".join(shown + ([f"also {', '.join(rest)}"] if rest else []))
    raise QualityGateFailed(
        f"quality gate failed for {entity.qualified} batch {batch_id}: {checks}",
        f"{FIX} (details: audit.dq_results where batch_id = '{batch_id}')",
    )


def judge(conn: Any, result: GateResult, entity: Entity, batch_id: str) -> Verdict:
    """Pass the batch (its gate state ``passed``: staging reads it), or reject it: a blocking
    failure moves its rows to quarantine."""
    try:
        enforce(result, entity, batch_id)
    except QualityGateFailed as exc:
        return Verdict(exc, reject_batch(conn, entity, batch_id, f"quality gate: {exc}"))
    mark_passed(conn, batch_id)
    return Verdict()
