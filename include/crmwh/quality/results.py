"""What the gate found: one :class:`Check` per expectation, recorded in ``audit.dq_results``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from psycopg.pq import TransactionStatus

from crmwh.source_entities import Entity

INSERT_SQL = """
insert into audit.dq_results
  (run_id, batch_id, source, entity, check_name, object_name, severity, status, observed, expected,
   as_of_date, docs_page)
values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


class Failure(NamedTuple):
    """One failed expectation: ``(check, severity, observed)``."""

    check: str
    severity: str
    observed: str


@dataclass
class GateResult:
    success_blocking: bool
    failures: list[Failure] = field(default_factory=list)  # blocking and warning
    rows_checked: int = 0
    checks_evaluated: int = 0
    seconds: float = 0.0  # wall time of validate_batch

    @property
    def blocking_failures(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "blocking"]

    @property
    def warnings(self) -> list[Failure]:
        return [f for f in self.failures if f.severity != "blocking"]


@dataclass
class Check:
    check_name: str
    object_name: str
    severity: str
    status: str  # pass | fail | skipped
    observed: str
    expected: str
    docs_page: str | None = None  # its GX page, relative to $CRM_HOME/data_docs


def record(
    conn: Any, entity: Entity, batch_id: str, run_id: str, checks: list[Check],
    as_of_date: date | None,
) -> None:
    """One ``audit.dq_results`` row per check, committed (a transaction open on ``conn``
    is committed with them)."""
    rows = [
        (
            run_id,
            batch_id,
            entity.source,
            entity.name,
            c.check_name,
            c.object_name,
            c.severity,
            c.status,
            c.observed,
            c.expected,
            as_of_date,
            c.docs_page,
        )
        for c in checks
    ]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(INSERT_SQL, rows)
    # Commit so the evidence survives the failing gate that may follow.
    if not conn.autocommit and conn.info.transaction_status != TransactionStatus.IDLE:
        conn.commit()


def result_of(checks: list[Check], rows_checked: int, seconds: float) -> GateResult:
    """The gate's outcome from its recorded checks."""
    failures = [Failure(c.check_name, c.severity, c.observed) for c in checks if c.status == "fail"]
    return GateResult(
        success_blocking=not any(f.severity == "blocking" for f in failures),
        failures=failures,
        rows_checked=rows_checked,
        checks_evaluated=sum(c.status != "skipped" for c in checks),
        seconds=seconds,
    )
