"""crm_nightly: sources → raw → quality gate → dbt (staging, core star, marts) → run summary.

The DAG is thin on purpose; every step is a function in ``crmwh.pipeline``.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task
from cosmos import (
    DbtTaskGroup,
    ExecutionConfig,
    LoadMode,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
)
from cosmos.constants import TestBehavior
from cosmos.profiles import PostgresUserPasswordProfileMapping

from crmwh import pipeline
from crmwh.quality.notify import on_task_failure
from crmwh.settings import PROJECT_ROOT, WAREHOUSE_CONN_ID

DBT_PROJECT = PROJECT_ROOT / "dbt_project"
MANIFEST = DBT_PROJECT / "target" / "manifest.json"
RETRIES = int(os.environ.get("CRM_TASK_RETRIES", "2"))

# The dbt profile comes from the Airflow connection, which mirrors CRM_WAREHOUSE_DSN.
profile_config = ProfileConfig(
    profile_name="crm_warehouse",
    target_name="nightly",
    profile_mapping=PostgresUserPasswordProfileMapping(
        conn_id=WAREHOUSE_CONN_ID, profile_args={"schema": "staging"}
    ),
)
project_config = ProjectConfig(
    dbt_project_path=DBT_PROJECT,
    manifest_path=MANIFEST if MANIFEST.exists() else None,
    project_name="crm_warehouse",
    install_dbt_deps=False,  # no hub packages: generic tests and macros live in the project
)
render_config = RenderConfig(
    load_method=LoadMode.DBT_MANIFEST if MANIFEST.exists() else LoadMode.DBT_LS,
    test_behavior=TestBehavior.BUILD,
    # tests spanning two models (relationships) run once both exist, in their own task
    should_detach_multiple_parents_tests=True,
    emit_datasets=False,
)

DOC = """
### crm_nightly

Nightly load of the CRM warehouse for the run's logical date (`ds`).

1. **extract_<source>** — pull sales (watermark + look-back), billing (new drop files
   by manifest and checksum) and service (API `updated_since`) and land them in `raw`
   with COPY; bad rows go to `quarantine.rows`; each batch is recorded in
   `audit.load_batches` with reconciled counts.
2. **gate_<source>** — a Great Expectations suite (`expectations/`) validates each
   landed batch; a blocking failure fails the run here, before dbt touches `core`
   or `marts`.
3. **prepare_marts** — empties `marts__staging` and copies the published incremental
   marts into it (write-audit-publish, docs/data_quality.md).
4. **dbt** — staging views, the `core` star, the DOMAIN §5 business-rule checks
   (`quality`) and the marts, built and tested with `as_of_date = ds` (astronomer-cosmos,
   one task per model); marts are written to `marts__staging`; every test result goes
   to `audit.dq_results`.
5. **publish_marts** — swaps `marts__staging` into `marts` in one transaction when no
   blocking check failed; `marts.wap_published` says which as-of date `marts` reflects.
6. **run_summary** — what the run did, in `audit.run_summary`.

A failed task sends one alert naming the check, object and batch (`crmwh.quality.notify`).

Reruns of the same date are idempotent. Set `CRM_WAREHOUSE_DSN` to use another Postgres.
"""


@dag(
    dag_id="crm_nightly",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["crm", "nightly"],
    default_args={
        "owner": "crm-warehouse",
        "retries": RETRIES,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": on_task_failure,  # issue 7: one clear alert per failure
    },
)
def crm_nightly():
    @task
    def extract(source: str, ds: str | None = None, run_id: str | None = None) -> list[dict]:
        return pipeline.extract_and_land(source, pendulum.parse(ds).date(), run_id)

    @task(retries=0)
    def gate(batches: list[dict], run_id: str | None = None) -> list[dict]:
        return pipeline.quality_gate(batches, run_id)

    @task
    def run_summary(batches: list[list[dict]], ds: str | None = None,
                    run_id: str | None = None) -> dict:
        flat = [b for group in batches for b in group]
        return pipeline.write_run_summary(run_id, pendulum.parse(ds).date(), flat)

    @task(retries=0)
    def prepare_marts(ds: str | None = None, run_id: str | None = None) -> list[str]:
        return pipeline.prepare_marts(run_id, pendulum.parse(ds).date())

    @task(retries=0)
    def publish_marts(ds: str | None = None, run_id: str | None = None) -> dict:
        return pipeline.publish_marts(run_id, pendulum.parse(ds).date())

    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=project_config,
        profile_config=profile_config,
        execution_config=ExecutionConfig(),
        render_config=render_config,
        # dbt failures are data or logic problems, not transient: fail fast, rerun the date
        # marts are written to marts__staging and published by publish_marts (issue 7)
        operator_args={"vars": {"as_of_date": "{{ ds }}", "marts_schema": "marts__staging",
                                "dq_run_id": "{{ run_id }}"}, "retries": 0},
    )

    prepared = prepare_marts()
    landed = []
    for source in pipeline.SOURCES:
        batches = extract.override(task_id=f"extract_{source}")(source)
        gate.override(task_id=f"gate_{source}")(batches) >> prepared
        landed.append(batches)
    summary = run_summary(landed)
    prepared >> dbt >> publish_marts() >> summary
    dbt >> summary


crm_nightly()
