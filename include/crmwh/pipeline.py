"""The nightly pipeline's steps, as plain functions the DAG's tasks call.

Kept out of the DAG file so the DAG stays thin and the steps are testable and
runnable without Airflow.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from datetime import date

from psycopg import sql

from crmwh import database, settings, source_entities, warehouse
from crmwh.errors import InsufficientData, QualityGateFailed
from crmwh.extract import mapping_check, presence
from crmwh.extract.registry import EXTRACTORS
from crmwh.load.batches import last_watermark, new_batch_id
from crmwh.load.landing import land
from crmwh.quality.profile import PARKED_PREFIX
from crmwh.quality.results import GateResult

log = logging.getLogger(__name__)
SOURCES = tuple(EXTRACTORS)  # in landing order


def _land_entity(cfg: settings.Settings, dsn: str, entity: source_entities.Entity,
                 as_of_date: date, run_id: str) -> dict:
    """Extract one entity for the as-of date and land it as one batch (own session)."""
    started = time.monotonic()
    with database.connect(dsn, autocommit=True) as conn:
        before = last_watermark(conn, entity)
        extraction = EXTRACTORS[entity.source].extract(cfg, conn, entity, as_of_date, before)
        for note in extraction.notes:
            log.info("%s: %s", entity.table, note)
        result = land(
            conn,
            entity,
            extraction,
            batch_id=new_batch_id(entity, as_of_date),
            run_id=run_id,
            as_of_date=as_of_date,
            watermark_before=before,
            started=started,
            rereads_rejected=True,
        )
    log.info("landed %s: %s", entity.table, result)
    return asdict(result)


def _longest_first(cfg: settings.Settings, dsn: str, entities: list[source_entities.Entity],
                   as_of_date: date) -> list[source_entities.Entity]:
    """The entities in the order the workers should take them: the longest load first.

    How long an entity takes is read from its last batch. When an entity has no batch
    yet (a first load or backfill, the longest run of all), the entities go by the
    rows their source has waiting instead, most first; ties (and a source that tells
    no size) keep the entities' declared order.
    """
    source = entities[0].source
    with database.connect(dsn, autocommit=True) as conn:
        last = dict(conn.execute(
            """select distinct on (entity) entity, duration_s from audit.load_batches
               where source = %s and status = 'loaded' order by entity, finished_at desc""",
            (source,)).fetchall())
        if all(e.name in last for e in entities):
            return sorted(entities, key=lambda e: -last[e.name])
        pending_rows = EXTRACTORS[source].pending_rows
        size = pending_rows(cfg, conn, entities, as_of_date) if pending_rows else {}
    return sorted(entities, key=lambda e: -size.get(e.name, 0))


def _record_presence(cfg: settings.Settings, dsn: str, source: str, as_of_date: date,
                     run_id: str) -> bool:
    """Whether ``source`` is present (:mod:`crmwh.extract.presence`), recorded in
    ``audit.source_presence`` for the run summary. An absent source is skipped; one fed
    only by imported files (``crmwh import``) counts as present, with nothing to extract."""
    present = presence.present_sources(cfg)
    with database.connect(dsn, autocommit=True) as conn:
        reason = present.get(source)
        imported = None if reason else presence.imported_files(conn, source)
        if imported:
            reason = f"imported files only ({', '.join(imported)}): no system to extract"
            log.info("source %s: %s", source, reason)
        elif reason is None:
            reason = presence.absence_reason(cfg, source)
            log.warning("source %s is absent, skipped (nothing landed): %s", source, reason)
        conn.execute(
            """insert into audit.source_presence (run_id, as_of_date, source, present, reason)
               values (%s, %s, %s, %s, %s)
               on conflict (run_id, source) do update set present = excluded.present,
                   reason = excluded.reason, checked_at = now()""",
            (run_id, as_of_date, source, source in present or bool(imported), reason))
    return source in present


def extract_and_land(source: str, as_of_date: date, run_id: str) -> list[dict]:
    """Extract every entity of one source for the as-of date and land it in ``raw``.

    Each entity is its own batch in its own transaction, so ``CRM_LOAD_WORKERS``
    sessions land entities side by side. If one fails, the entities not started yet
    are not started, those running finish (each commits whole or not at all), and
    the first failure in the entities' declared order is raised. The batches come back
    in that order.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    cfg = settings.load()
    mapping_check.check(cfg, [source])  # a mapping mistake before anything lands
    dsn = warehouse.ensure_warehouse(cfg)
    if not _record_presence(cfg, dsn, source, as_of_date, run_id):
        return []
    entities = source_entities.entities_of(source)
    workers = min(cfg.load_workers, len(entities))
    if workers == 1:
        return [_land_entity(cfg, dsn, e, as_of_date, run_id) for e in entities]
    done: dict[str, Future] = {}
    with ThreadPoolExecutor(workers, thread_name_prefix=f"land-{source}") as pool:
        for entity in _longest_first(cfg, dsn, entities, as_of_date):
            done[entity.name] = pool.submit(_land_entity, cfg, dsn, entity, as_of_date,
                                            run_id)
        futures.wait(done.values(), return_when=futures.FIRST_EXCEPTION)
        pool.shutdown(cancel_futures=True)
    failed = [done[e.name] for e in entities
              if not done[e.name].cancelled() and done[e.name].exception() is not None]
    if failed:
        raise failed[0].exception()
    return [done[e.name].result() for e in entities]


def _judged(conn, entity: source_entities.Entity, batch_id: str, run_id: str, docs,
            failed: list) -> GateResult | None:
    """Validate and judge one batch: its result, or None when it was rejected."""
    from crmwh.quality import gate, verdict

    result = gate.validate_batch(conn, entity, batch_id, run_id, docs_dir=docs)
    judged = verdict.judge(conn, result, entity, batch_id)
    if judged.failure is None:
        return result
    log.error("rejected batch %s: %d rows moved to quarantine.rows", batch_id,
              judged.rows_rejected)
    failed.append(judged.failure)
    return None


def quality_gate(batches: list[dict], run_id: str, source: str | None = None) -> list[dict]:
    """Validate every batch landed but not gated yet, with its Great Expectations suite;
    stop on a blocking failure.

    The batches are ``batches`` (this run's) and every other pending batch of their source
    (or of ``source``), whichever run landed it: a run killed between landing and its gate
    leaves its batches pending, and the next run gates them before its own. Only a batch
    that passed its gate is read by staging. Before an entity's first batch, its parked rows
    are settled (released into ``raw`` once their parent landed, quarantined after
    ``CRM_PARK_DAYS``) as a batch of their own, gated too; after a batch passed, its orphans
    are parked (:mod:`crmwh.quality.parking`). Every batch is validated (so every problem is
    reported at once); each batch with a blocking failure is rejected (its rows to
    quarantine), then the gate raises naming them.
    """
    from crmwh.load.batches import pending_batches
    from crmwh.quality import data_docs, parking, profile
    from crmwh.quality.suites import load_suite_json

    cfg = settings.load()
    outcomes, failed = [], []
    docs = data_docs.run_dir(cfg.home, run_id)  # the run's one GX Data Docs site
    sources = sorted({b["source"] for b in batches} | ({source} if source else set()))
    settled_entities: set[str] = set()
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        pending = pending_batches(conn, sources) if sources else []
        mine = {b["batch_id"] for b in batches}
        earlier = [b for b in pending if b["batch_id"] not in mine]
        if earlier:
            log.warning("gating %d batches an earlier run landed but never gated: %s",
                        len(earlier), ", ".join(b["batch_id"] for b in earlier))
        waiting = {b["batch_id"] for b in pending}
        for batch in [*earlier, *(b for b in batches if b["batch_id"] in waiting)]:
            entity = source_entities.BY_TABLE[f"{batch['source']}__{batch['entity']}"]
            derived = load_suite_json(entity).get("derived_columns") or {}
            with conn.cursor() as cur:
                as_of_date = profile.batch_as_of_date(cur, batch["batch_id"])
            if entity.table not in settled_entities:
                settled_entities.add(entity.table)
                settled = parking.settle(conn, entity, derived, as_of_date, run_id,
                                         cfg.park_days)
                if settled is not None:
                    log.info("settled parked rows of %s: %s", entity.table, settled)
                    if settled.rows_loaded and _judged(conn, entity, settled.batch_id, run_id,
                                                       docs, failed):
                        outcomes.append({"batch_id": settled.batch_id,
                                         "rows_released": settled.rows_loaded,
                                         "rows_expired": settled.rows_quarantined})
            result = _judged(conn, entity, batch["batch_id"], run_id, docs, failed)
            if result is None:
                continue
            parked = parking.Parked(0, 0)
            if parking.has_orphans(result):
                parked = parking.park(conn, entity, batch["batch_id"], derived, as_of_date)
                parking.parked_checks(conn, entity, batch["batch_id"], run_id, as_of_date)
                log.info("parked %d rows of batch %s (%d already parked)", parked.rows_parked,
                         batch["batch_id"], parked.rows_unchanged)
            outcomes.append(
                {
                    "batch_id": batch["batch_id"],
                    "rows_checked": result.rows_checked,
                    "warnings": len(result.failures),
                    "rows_parked": parked.rows_parked,
                }
            )
        # staging reads passed batches by an anti-join on this table: planned from statistics
        # of before the gate (every batch 'pending'), it estimates a few hundred rows out of
        # 100,000 and the identity models then run nested loops for an hour
        conn.execute("analyze audit.load_batches")
    if docs.exists():
        log.info("GX Data Docs: %s", data_docs.finish_run(docs, f"crm_nightly {run_id}"))
    if failed:
        if len(failed) == 1:
            raise failed[0]
        raise QualityGateFailed(
            f"{len(failed)} batches failed the quality gate: "
            + " | ".join(e.problem for e in failed), failed[0].fix)
    return outcomes


def fit_models(as_of_date: date, run_id: str) -> dict:
    """Fit the nightly models on the core star as of ``as_of_date`` (between dbt's core and
    marts groups). CLV: BG/NBD + Gamma-Gamma -> ``ml.clv_predictions`` and
    ``audit.model_runs``. When the order history cannot support a fit (too few repeat
    buyers) the run is recorded as skipped and the marts build with NULL predictions; any
    other error fails the task."""
    from crmwh.clv import nightly

    cfg = settings.load()
    results: dict = {"as_of_date": as_of_date.isoformat(), "run_id": run_id}
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        try:
            # the dbt vars clv_horizon_years / clv_discount_rate (DOMAIN §2 project
            # defaults: 3 years, 10 % a year), the figures the marts describe
            rules = settings.dbt_vars()
            clv = nightly.run(conn, as_of_date, run_id,
                              horizon_years=float(rules["clv_horizon_years"]),
                              annual_discount=float(rules["clv_discount_rate"]))
        except InsufficientData as exc:
            log.warning("CLV fit skipped as of %s: %s", as_of_date, exc)
            ids = nightly.record_skipped(conn, as_of_date, run_id, str(exc))
            clv = {"status": "skipped", "reason": str(exc), "model_run_ids": ids}
        else:
            clv = {"status": "fitted", **clv}
            log.info("CLV fitted as of %s: %d customers in %.1f s", as_of_date,
                     clv["n_customers"], clv["total_seconds"])
    results["clv"] = clv
    results["churn"] = fit_churn(as_of_date, run_id)
    # the task's return value is an XCom: plain JSON (NumPy scalars become Python ones)
    return json.loads(json.dumps(results, default=_plain))


def _plain(value: object) -> object:
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return str(value)


def fit_churn(as_of_date: date, run_id: str) -> dict:
    """The churn model (crmwh.churn) fitted on the warehouse's own churn history and
    scored on ``as_of_date`` -> ``ml.churn_scores`` and ``audit.model_runs``. Too little
    history records the fit as skipped (the risk mart is empty for the date)."""
    from crmwh.churn import nightly as churn_nightly

    cfg = settings.load()
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        try:
            churn = churn_nightly.run(conn, as_of_date, run_id)
        except InsufficientData as exc:
            log.warning("churn fit skipped as of %s: %s", as_of_date, exc)
            row_id = churn_nightly.record_skipped(conn, as_of_date, run_id, str(exc))
            return {"status": "skipped", "reason": str(exc), "model_run_id": row_id}
    log.info("churn model fitted as of %s: %d customers scored", as_of_date,
             churn["rows_written"])
    return {"status": "fitted", **churn}


# --- write-audit-publish of the marts (crmwh.publish, docs/data_quality.md) -------


def prepare_marts(as_of_date: date, rewind: bool = False) -> list[str]:
    """Empty ``marts__candidate`` and copy the published incremental marts into it; an
    as-of date older than the published one is refused unless ``rewind``."""
    from crmwh import airflow_env, publish

    cfg = settings.load()
    models = publish.mart_models(airflow_env.dbt_manifest(cfg))
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        return publish.prepare(conn, models, as_of_date, rewind)


def publish_marts(as_of_date: date, run_id: str, rewind: bool = False) -> dict:
    """Swap the tested ``marts__candidate`` into ``marts`` (refuses on a blocking failure,
    and an older as-of date than the published one unless ``rewind``)."""
    from crmwh import airflow_env, publish

    cfg = settings.load()
    models = publish.mart_models(airflow_env.dbt_manifest(cfg))
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        done = publish.publish(conn, as_of_date, run_id, models, rewind=rewind)
    return {"as_of_date": done.as_of_date.isoformat(), "row_counts": done.row_counts}


def _mart_counts(conn, cfg: settings.Settings) -> dict[str, int]:
    """The rows of every published mart (the marts of the dbt manifest, as published)."""
    from crmwh import airflow_env, publish

    counts = {}
    for m in publish.mart_models(airflow_env.dbt_manifest(cfg)):
        table = sql.Identifier(publish.PUBLISHED, m.relation)
        counts[f"{publish.PUBLISHED}.{m.relation}"] = conn.execute(
            sql.SQL("select count(*) from {}").format(table)).fetchone()[0]
    return counts


def _published_counts(conn) -> dict[str, int]:
    """The rows of every mart as published now (``marts.wap_published`` lists them), without
    the dbt manifest: what a failed run left the readers."""
    from crmwh import publish
    from crmwh.warehouse import publication

    marker = f"{publish.PUBLISHED}.{publication.MARKER}"
    if conn.execute("select to_regclass(%s)", (marker,)).fetchone()[0] is None:
        return {}
    relations = conn.execute(f"select relations from {marker}").fetchone()
    return {f"{publish.PUBLISHED}.{r}": conn.execute(sql.SQL("select count(*) from {}").format(
        sql.Identifier(publish.PUBLISHED, r))).fetchone()[0] for r in (relations or [[]])[0]}


def _partial_marts(conn, cfg: settings.Settings,
                   run_id: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The sources absent from the run (source: why), and each published mart built from
    any of them (mart: those sources): a partial mart."""
    from crmwh import airflow_env, publish

    absent = dict(conn.execute("select source, reason from audit.source_presence "
                               "where run_id = %s and not present order by source",
                               (run_id,)).fetchall())
    if not absent:
        return {}, {}
    built_from = publish.mart_sources(airflow_env.dbt_manifest(cfg))
    partial = {f"{publish.PUBLISHED}.{mart}": sorted(sources & absent.keys())
               for mart, sources in sorted(built_from.items()) if sources & absent.keys()}
    return absent, partial


def write_run_summary(as_of_date: date, run_id: str, batches: list[dict]) -> dict:
    """Record what the run did in ``audit.run_summary`` and return it.

    The counts are the batches' records as the gate left them (parked rows moved out of
    ``rows_loaded``; a rejected batch loads nothing), with the run's batches of released
    parked rows (:mod:`crmwh.quality.parking`).
    """
    cfg = settings.load()
    with database.connect(cfg.warehouse_dsn) as conn:
        marts = _mart_counts(conn, cfg)
        results = conn.execute(
            """select count(*), coalesce(sum(rows_extracted), 0)::bigint,
                      coalesce(sum(rows_loaded), 0)::bigint,
                      coalesce(sum(rows_quarantined), 0)::bigint,
                      coalesce(sum(rows_parked), 0)::bigint
               from audit.load_batches
               where batch_id = any(%s) or (run_id = %s and starts_with(batch_id, %s))""",
            ([b["batch_id"] for b in batches], run_id, PARKED_PREFIX)).fetchone()
        absent, partial = _partial_marts(conn, cfg, run_id)
        summary = {
            "run_id": run_id,
            "as_of_date": as_of_date.isoformat(),  # the column audit.run_summary.as_of_date
            "status": "success",
            "batches": results[0],
            "rows_extracted": results[1],
            "rows_loaded": results[2],
            "rows_quarantined": results[3],
            "rows_parked": results[4],
            "mart_rows": marts,
            "absent_sources": absent,
            "partial_marts": partial,
        }
        conn.execute(
            """insert into audit.run_summary (run_id, as_of_date, status, batches,
                   rows_extracted, rows_loaded, rows_quarantined, rows_parked, mart_rows, details,
                   absent_sources, partial_marts)
               values (%(run_id)s, %(as_of_date)s, %(status)s, %(batches)s, %(rows_extracted)s,
                       %(rows_loaded)s, %(rows_quarantined)s, %(rows_parked)s, %(marts)s,
                       %(details)s, %(absent)s, %(partial)s)
               on conflict (run_id) do update set finished_at = now(), status = excluded.status,
                   batches = excluded.batches, rows_extracted = excluded.rows_extracted,
                   rows_loaded = excluded.rows_loaded, rows_quarantined = excluded.rows_quarantined,
                   rows_parked = excluded.rows_parked, mart_rows = excluded.mart_rows,
                   details = excluded.details, absent_sources = excluded.absent_sources,
                   partial_marts = excluded.partial_marts""",
            {**summary, "marts": json.dumps(marts), "details": json.dumps(batches),
             "absent": json.dumps(absent), "partial": json.dumps(partial)},
        )
        _append_history(conn, summary)
        conn.commit()
    return summary


def _append_history(conn, summary: dict, failed_task: str | None = None,
                    error: str | None = None) -> None:
    """The summary as one more row of ``audit.run_history`` (never replaced by a rerun)."""
    conn.execute(
        """insert into audit.run_history (run_id, as_of_date, status, failed_task, error,
               summary) values (%s, %s, %s, %s, %s, %s)""",
        (summary["run_id"], summary["as_of_date"], summary["status"], failed_task, error,
         json.dumps(summary, default=str)))


def record_failed_run(as_of_date: date, run_id: str, task_id: str,
                      error: BaseException | None) -> dict:
    """A failed run's summary: what its batches did, which task failed and why, and what
    ``marts`` still hold; in ``audit.run_summary`` (status ``failed``) and
    ``audit.run_history``."""
    cfg = settings.load()
    reason = " ".join(str(error).split())[:600] if error else "no exception recorded"
    with database.connect(cfg.warehouse_dsn) as conn:
        marts = _published_counts(conn)
        counts = conn.execute(
            """select count(*), coalesce(sum(rows_extracted), 0)::bigint,
                      coalesce(sum(rows_loaded), 0)::bigint,
                      coalesce(sum(rows_quarantined), 0)::bigint,
                      coalesce(sum(rows_parked), 0)::bigint
               from audit.load_batches where run_id = %s""", (run_id,)).fetchone()
        summary = {"run_id": run_id, "as_of_date": as_of_date.isoformat(), "status": "failed",
                   "batches": counts[0], "rows_extracted": counts[1], "rows_loaded": counts[2],
                   "rows_quarantined": counts[3], "rows_parked": counts[4],
                   "mart_rows": marts, "failed_task": task_id, "error": reason}
        conn.execute(
            """insert into audit.run_summary (run_id, as_of_date, status, batches,
                   rows_extracted, rows_loaded, rows_quarantined, rows_parked, mart_rows,
                   details)
               values (%(run_id)s, %(as_of_date)s, 'failed', %(batches)s, %(rows_extracted)s,
                       %(rows_loaded)s, %(rows_quarantined)s, %(rows_parked)s, %(marts)s,
                       %(details)s)
               on conflict (run_id) do update set finished_at = now(), status = 'failed',
                   batches = excluded.batches, rows_extracted = excluded.rows_extracted,
                   rows_loaded = excluded.rows_loaded,
                   rows_quarantined = excluded.rows_quarantined,
                   rows_parked = excluded.rows_parked, mart_rows = excluded.mart_rows,
                   details = excluded.details""",
            {**summary, "marts": json.dumps(marts),
             "details": json.dumps({"failed_task": task_id, "error": reason})})
        _append_history(conn, summary, task_id, reason)
        conn.commit()
    return summary


def on_task_failure(context: dict) -> None:
    """The DAG's ``on_failure_callback``: the alert (:mod:`crmwh.quality.notify`), then the
    failed run's summary (:func:`record_failed_run`). Never raises."""
    from crmwh import as_of
    from crmwh.quality import notify

    notify.on_task_failure(context)
    ti = context.get("task_instance") or context.get("ti")
    dag_run = context.get("dag_run")
    run_id = getattr(dag_run, "run_id", None) or context.get("run_id") or "unknown"
    try:
        day = as_of.of_run(dag_run) if dag_run is not None else date.fromisoformat(
            context["ds"])
        record_failed_run(day, run_id, getattr(ti, "task_id", None) or "unknown",
                          context.get("exception"))
    except Exception as exc:  # the warehouse may be what failed
        log.warning("could not record the failed run's summary: %s", exc)
