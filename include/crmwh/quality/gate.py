"""The data-quality gate: validate one landed raw batch and record the outcome.

After a batch lands in ``raw.<source>__<entity>`` the pipeline calls::

    result = validate_batch(conn, entity, batch_id, run_id)   # records audit.dq_results
    verdict.judge(conn, result, entity, batch_id)             # rejects a blocking failure

:func:`validate_batch` reads the batch's entity columns into pandas
(:mod:`.batch`), runs the suite ``expectations/<table>.json`` with an ephemeral
Great Expectations context (:mod:`.suite_run`), writes one ``audit.dq_results``
row per expectation (:mod:`.results`; committed, so the evidence survives a
failing gate) and returns a :class:`GateResult`. The verdict is
:mod:`.verdict`'s. An empty batch passes without running GX.

Great Expectations is imported only when a suite runs: the import takes seconds
and this module is imported when Airflow parses DAGs.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path
from typing import Any

from psycopg.rows import tuple_row

from crmwh import settings
from crmwh.quality import profile
from crmwh.quality.batch import held_file_checks, quarantined_checks, read_batch
from crmwh.quality.parking import with_reject_share
from crmwh.quality.results import GateResult, record, result_of
from crmwh.quality.suite_run import run_suite
from crmwh.quality.suites import load_suite_json, resolve_entity
from crmwh.source_entities import Entity

log = logging.getLogger(__name__)

# The gate's own work_mem (the server default is 4 MB). A first load at 100,000 customers
# needs about 45 MB per referential column (424,000 order ids made distinct, then hashed)
# and 100 MB to sort 1,000,000 order lines back into landing order: 128 MB keeps that in
# memory, and even a few such nodes (hash nodes may take 2 x work_mem) in both workers'
# gates at once stay a small share of the machine's 24 GB. The plans do not depend on it:
# above it they spill to disk and stay linear (tests/integration/test_gate_plans.py).
WORK_MEM = "set local work_mem = '128MB'"


def validate_batch(
    conn: Any,
    entity: Entity | str,
    batch_id: str,
    run_id: str,
    *,
    as_of_date: date | None = None,
    docs_dir: Path | None = None,
    reject_share: float | None = None,
) -> GateResult:
    """Validate batch ``batch_id`` of ``entity``'s raw table and record the outcome.

    ``conn`` is an open psycopg 3 connection to the warehouse. The suite's row
    expectations run on the batch's rows (with its derived referential columns), its
    profile expectations (volume, freshness) on a one-row profile of the batch, see
    :mod:`crmwh.quality.profile`. ``as_of_date`` is the run's as-of date (default: the
    batch's as-of date in ``audit.load_batches``); with ``docs_dir`` the GX Data Docs
    of the validation are written there. ``reject_share`` (default
    ``CRM_ORPHAN_REJECT_SHARE``) is the share of unknown keys above which the blocking
    referential checks reject the batch (:mod:`crmwh.quality.parking`). The audit rows
    are committed before returning (a transaction already open on ``conn`` is committed
    with them).
    Raises :class:`CrmwhError` when the raw table or the suite is missing; a failing
    check never raises here, see :func:`crmwh.quality.verdict.enforce`.
    """
    started = time.perf_counter()
    entity = resolve_entity(entity)
    suite = load_suite_json(entity)  # checked against the entity, cached per process
    if reject_share is None:
        reject_share = settings.load().orphan_reject_share
    suite = with_reject_share(suite, reject_share)

    with conn.transaction():
        conn.execute(WORK_MEM)
        df = read_batch(conn, entity, batch_id, suite.get("derived_columns") or {})
        if as_of_date is None:
            with conn.cursor(row_factory=tuple_row) as cur:
                as_of_date = profile.batch_as_of_date(cur, batch_id)
        profile_df = profile.profile_frame(conn, entity, batch_id, len(df))
        bounds = profile.suite_bounds(conn, entity, batch_id, suite, as_of_date)

    checks = run_suite(entity, suite, df, profile_df, bounds, docs_dir, run_id)
    checks += quarantined_checks(conn, entity, batch_id)
    checks += held_file_checks(conn, entity, batch_id)
    record(conn, entity, batch_id, run_id, checks, as_of_date)
    result = result_of(checks, len(df), time.perf_counter() - started)
    _log(entity, batch_id, result)
    return result


def _log(entity: Entity, batch_id: str, result: GateResult) -> None:
    log.info(
        "quality gate %s batch %s: %d rows, %d checks, %d blocking and %d warning failures (%.2fs)",
        entity.qualified,
        batch_id,
        result.rows_checked,
        result.checks_evaluated,
        len(result.blocking_failures),
        len(result.warnings),
        result.seconds,
    )
    for f in result.warnings:
        log.warning(
            "quality warning %s batch %s: %s %s", entity.qualified, batch_id, f.check, f.observed
        )
