"""The nightly's work done plainly in one process, without Airflow: the baseline the nightly
benchmark divides the DAG's wall time by.

The same steps in the DAG's order, each from the runtime's own functions: extract + land of
every source (``crmwh.pipeline``), the quality gate per source, one ``dbt build`` of
everything but the marts (staging, intermediate, snapshots, core, quality, their tests), the
model fits, the marts' preparation, one ``dbt build`` of the marts into ``marts__candidate``,
the publish, the run summary and the HTML report. The environment (``CRM_*``) must point at
the plain side's warehouse before :func:`night` is called.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from crmwh import dbt_runner, pipeline, settings
from crmwh.errors import CrmwhError

MARTS = "path:models/marts"


def _dbt_build(cfg: settings.Settings, day: date, run_id: str, work: Path,
               *selection: str) -> None:
    done = dbt_runner.run(
        cfg.warehouse_dsn, "build", *selection, as_of_date=day,
        dbt_vars={"dq_run_id": run_id, "marts_schema": "marts__candidate"},
        target=work / "dbt_target", logs=work / "dbt_logs")
    if done.returncode != 0:
        tail = " | ".join(done.stdout.strip().splitlines()[-3:])
        raise CrmwhError(f"plain night {day}: dbt build {' '.join(selection)} failed: {tail}",
                         f"see {work / 'dbt_logs'}")


def night(day: date, run_id: str, work: Path) -> dict[str, float]:
    """Run one night as of ``day``; the wall seconds of each step, in order."""
    from crmwh.report import html

    cfg = settings.load()
    steps: dict[str, float] = {}

    def timed(name: str, step: Callable[[], object]) -> object:
        started = time.perf_counter()
        result = step()
        steps[name] = round(time.perf_counter() - started, 2)
        return result

    landed = []
    for source in pipeline.SOURCES:
        batches = timed(f"extract_{source}",
                        lambda s=source: pipeline.extract_and_land(s, day, run_id))
        landed.append(batches)
    for source, batches in zip(pipeline.SOURCES, landed, strict=True):
        timed(f"gate_{source}", lambda b=batches: pipeline.quality_gate(b, run_id))
    timed("dbt_build_upto_core",
          lambda: _dbt_build(cfg, day, run_id, work, "--exclude", MARTS))
    timed("fit_models", lambda: pipeline.fit_models(day, run_id))
    timed("prepare_marts", lambda: pipeline.prepare_marts(day))
    timed("dbt_build_marts", lambda: _dbt_build(cfg, day, run_id, work, "--select", MARTS))
    timed("publish_marts", lambda: pipeline.publish_marts(day, run_id))
    timed("run_summary", lambda: pipeline.write_run_summary(
        day, run_id, [b for group in landed for b in group]))
    timed("nightly_report", lambda: html.nightly(day, run_id))
    return steps
