"""crm_nightly: sources → raw → quality gate → dbt (staging, core star, marts) → run summary.

The DAG is thin on purpose; every step is a function in ``crmwh.pipeline``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pendulum
from airflow.sdk import TriggerRule, dag, task
from cosmos import (
    DbtTaskGroup,
    ExecutionConfig,
    LoadMode,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
)
from cosmos import settings as cosmos_settings
from cosmos.constants import (
    PRODUCER_WATCHER_DONE_TASK_ID,
    PRODUCER_WATCHER_TASK_ID,
    ExecutionMode,
    InvocationMode,
    TestBehavior,
    TestIndirectSelection,
)
from cosmos.operators.local import DbtBuildLocalOperator
from cosmos.profiles import PostgresUserPasswordProfileMapping

from crmwh import as_of, pipeline
from crmwh.settings import (
    PROJECT_ROOT,
    WAREHOUSE_CONN_ID,
    choice_setting,
    schedule_setting,
    whole_setting,
)

if TYPE_CHECKING:
    from airflow.sdk.types import DagRunProtocol as DagRun

DBT_PROJECT = PROJECT_ROOT / "dbt_project"
MANIFEST = DBT_PROJECT / "target" / "manifest.json"
RETRIES = whole_setting("CRM_TASK_RETRIES", 2, 0)
# the longest any one task may run (a hung extract, a stuck dbt or publish fails, alerts and
# retries instead of holding the night): well above a 1,000,000-customer first night's
# longest task (benchmarks/nightly.md)
TASK_TIMEOUT = timedelta(minutes=whole_setting("CRM_TASK_TIMEOUT_MINUTES", 240, 1))
# when the scheduler starts a night (UTC); none: only triggered runs
SCHEDULE = schedule_setting("CRM_NIGHTLY_SCHEDULE", "0 2 * * *")
# watcher: each dbt group runs one `dbt build` and shows a task per model (one dbt start-up per
# group); local: one dbt invocation per model (each pays dbt's start-up, a few seconds)
DBT_EXECUTION = choice_setting("CRM_DBT_EXECUTION", ("watcher", "local"), "watcher")

# The dbt profile comes from the Airflow connection, which mirrors CRM_WAREHOUSE_DSN; schema and
# threads as in dbt_project/profiles.yml (threads: models and tests run four at a time).
profile_config = ProfileConfig(
    profile_name="crm_warehouse",
    target_name="nightly",
    profile_mapping=PostgresUserPasswordProfileMapping(
        conn_id=WAREHOUSE_CONN_ID, profile_args={"schema": "staging", "threads": 4}
    ),
)
project_config = ProjectConfig(
    dbt_project_path=DBT_PROJECT,
    manifest_path=MANIFEST if MANIFEST.exists() else None,
    project_name="crm_warehouse",
    install_dbt_deps=False,  # no hub packages: generic tests and macros live in the project
)


def render_config(select: tuple[str, ...], exclude: tuple[str, ...] = ()) -> RenderConfig:
    return RenderConfig(
        load_method=LoadMode.DBT_MANIFEST if MANIFEST.exists() else LoadMode.DBT_LS,
        select=list(select),
        exclude=list(exclude),
        # one task per model, then one task running every test of the group (data and unit
        # tests): a failing test fails the group, so nothing downstream runs and the marts
        # are not published. Per-model test tasks (TestBehavior.BUILD) would double the tasks.
        test_behavior=TestBehavior.AFTER_ALL,
        emit_datasets=False,
    )


# dbt failures are data or logic problems, not transient: fail fast, rerun the date
# every test result is recorded in audit.dq_results under the run's id;
# as_of_date is the DAG's template macro (crmwh.as_of.of_run), the same date the Python tasks use;
# marts are built in marts__candidate and published by publish_marts (only the marts read
# marts_schema, but every dbt task gets the same vars: see PARSE_CACHE)
DBT_ARGS = {"vars": {"as_of_date": "{{ as_of_date(dag_run) }}", "dq_run_id": "{{ run_id }}",
                     "marts_schema": "marts__candidate"},
            "retries": 0}
# dbt re-parses the whole project (about 8 s) when its vars change, that is once a night; the
# dbt tasks share one partial-parse cache, so only the first of them pays it (cosmos keeps one
# cache per task group, and none for a lone operator)
PARSE_CACHE = cosmos_settings.cache_dir / "crm_nightly__dbt"
# dbt_staging: the staging views, in one dbt build (a view is built in milliseconds; one task
# per view cost about 5 s of dbt start-up each, a quarter of the night's dbt time);
# dbt_core: everything else but the marts (intermediate, core, snapshots, quality, ...);
# dbt_marts: models/marts, after fit_models wrote the predictions they join.
STAGING_SELECT = "path:models/staging"
MARTS_SELECT = ("path:models/marts",)

def _rewind(dag_run: DagRun | None) -> bool:
    """Whether the run may publish an as-of date older than the published one (its conf
    ``{"rewind": true}``: ``crmwh run --rewind``)."""
    return bool(((dag_run.conf if dag_run is not None else None) or {}).get("rewind"))


def execution_config(**kwargs: object) -> ExecutionConfig:
    mode = ExecutionMode.WATCHER if DBT_EXECUTION == "watcher" else ExecutionMode.LOCAL
    return ExecutionConfig(execution_mode=mode, invocation_mode=InvocationMode.DBT_RUNNER,
                           **kwargs)


def producer_first(group: DbtTaskGroup) -> None:
    """Start the group's model tasks only after its one ``dbt build`` (the watcher's producer)
    ended, whatever its outcome: ``airflow dags test`` runs ready tasks one at a time in no set
    order, and a model's sensor started first would wait for a build that never starts. Each
    sensor then reports its own model's result, so a failed model fails its own task."""
    producer = group.children[f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}"]
    done = group.children[f"{group.group_id}.{PRODUCER_WATCHER_DONE_TASK_ID}"]
    for node in group.children.values():
        if node in (producer, done) or node.upstream_task_ids & set(group.children):
            continue
        producer >> node
        node.trigger_rule = TriggerRule.ONE_DONE  # skipped when the build never ran


DOC = """
### crm_nightly

Nightly load of the CRM warehouse as of one day, the run's **as-of date**
(`crmwh.as_of`): a scheduled run (and each run of a backfill) builds the last complete
day in the reporting time zone (dbt var `reporting_timezone`, UTC) before it was
scheduled — the 02:00 UTC run of 2026-12-06 builds 2026-12-05; a manual run
(`crmwh run --date D [--scheduler]`, `airflow dags test crm_nightly D`) builds as of its
logical date D. The schedule is `CRM_NIGHTLY_SCHEDULE` (default `0 2 * * *`; `none`:
triggered runs only).

1. **extract_<source>** — pull sales (watermark + look-back), billing (new drop files
   by manifest and checksum) and service (API `updated_since`) and land them in `raw`
   with COPY; bad rows go to `quarantine.rows`; each batch is recorded in
   `audit.load_batches` with reconciled counts.
2. **gate_<source>** — a Great Expectations suite (`expectations/`) validates each
   landed batch, and first any batch of the source an earlier (killed) run landed but never
   gated; only batches that passed are read by staging; a blocking failure fails the run
   here, before dbt touches `core` or `marts`.
3. **dbt_staging** — the staging views and their tests, in one `dbt build`; then
   **dbt_core** — everything else but the marts: intermediate tables, snapshots, the
   `core` star and the DOMAIN §5 business-rule checks (`quality`), built and tested
   with the dbt var `as_of_date` (astronomer-cosmos: one `dbt build` of the group's models
   and snapshots, a task per model showing its own result, then one task running the
   group's tests); every test result goes to `audit.dq_results`.
4. **fit_models** — predictive models fitted on the core star as of the as-of date (CLV:
   BG/NBD + Gamma-Gamma -> `ml.clv_predictions`; churn risk -> `ml.churn_scores`; both
   logged in `audit.model_runs`); too little history records a fit as skipped and the
   marts get NULL predictions.
5. **prepare_marts** — empties `marts__candidate` and copies the published incremental
   marts into it (write-audit-publish, docs/data_quality.md).
6. **dbt_marts** — the `marts`, joining the predictions, built and tested in
   `marts__candidate`.
7. **publish_marts** — swaps `marts__candidate` into `marts` in one transaction when no
   blocking check failed; `marts.wap_published` says which as-of date `marts` reflects.
8. **run_summary** — what the run did, in `audit.run_summary`.
9. **nightly_report** — the static HTML report with inline charts (churn and retention,
   value tiers, cohort retention, churn reasons, data quality) in
   `$CRM_HOME/reports/crm_nightly_<as_of_date>.html` and `latest.html` (`crmwh report`).

A failed task sends one alert naming the check, object and batch (`crmwh.quality.notify`) and
records the failed run's summary (`audit.run_summary` status failed; every summary also in
`audit.run_history`, which reruns never replace).

Reruns of the same date are idempotent. Set `CRM_WAREHOUSE_DSN` to use another Postgres.
"""


@dag(
    dag_id="crm_nightly",
    schedule=SCHEDULE,
    # far in the past: `airflow dags test` of a logical date before start_date creates a run
    # with no tasks and reports success, and users bring history of any age; catchup=False
    # keeps the scheduler from backfilling it
    start_date=pendulum.datetime(1900, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    user_defined_macros={"as_of_date": as_of.of_run},  # {{ as_of_date(dag_run) }}
    tags=["crm", "nightly"],
    default_args={
        "owner": "crm-warehouse",
        "retries": RETRIES,
        "execution_timeout": TASK_TIMEOUT,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        # one clear alert per failure, and the failed run's summary
        "on_failure_callback": pipeline.on_task_failure,
    },
)
def crm_nightly():
    @task
    def extract(source: str, dag_run: DagRun | None = None,
                run_id: str | None = None) -> list[dict]:
        return pipeline.extract_and_land(source, as_of.of_run(dag_run), run_id)

    @task(retries=0)
    def gate(batches: list[dict], source: str, run_id: str | None = None) -> list[dict]:
        return pipeline.quality_gate(batches, run_id, source)

    @task
    def run_summary(batches: list[list[dict]], dag_run: DagRun | None = None,
                    run_id: str | None = None) -> dict:
        flat = [b for group in batches for b in group]
        return pipeline.write_run_summary(as_of.of_run(dag_run), run_id, flat)

    @task(retries=0)
    def fit_models(dag_run: DagRun | None = None, run_id: str | None = None) -> dict:
        return pipeline.fit_models(as_of.of_run(dag_run), run_id)

    @task(retries=0)
    def prepare_marts(dag_run: DagRun | None = None) -> list[str]:
        return pipeline.prepare_marts(as_of.of_run(dag_run), _rewind(dag_run))

    @task(retries=0)
    def publish_marts(dag_run: DagRun | None = None, run_id: str | None = None) -> dict:
        return pipeline.publish_marts(as_of.of_run(dag_run), run_id, _rewind(dag_run))

    @task(retries=1)
    def nightly_report(dag_run: DagRun | None = None, run_id: str | None = None) -> dict:
        from crmwh.report import html  # the static HTML report, the run's last step

        return html.nightly(as_of.of_run(dag_run), run_id)

    dbt_staging = DbtBuildLocalOperator(
        task_id="dbt_staging",
        project_dir=str(DBT_PROJECT),
        profile_config=profile_config,
        select=STAGING_SELECT,
        # only tests of staging alone: a test that also reads core (raw -> fact
        # reconciliation) runs in dbt_core's test task, after the facts are rebuilt
        indirect_selection="cautious",
        install_deps=False,
        emit_datasets=False,
        cache_dir=PARSE_CACHE,
        **DBT_ARGS,
    )
    dbt_core = DbtTaskGroup(
        group_id="dbt_core",
        project_config=project_config,
        profile_config=profile_config,
        # the group's test task runs `dbt test --exclude <staging> <marts>`: cautious, so a test
        # reading staging's sources and core's facts (raw -> fact reconciliation) is not
        # excluded with staging; no test reads both core and the marts
        execution_config=execution_config(
            test_indirect_selection=TestIndirectSelection.CAUTIOUS),
        render_config=render_config((), exclude=(STAGING_SELECT, *MARTS_SELECT)),
        operator_args=DBT_ARGS,
    )
    dbt_marts = DbtTaskGroup(
        group_id="dbt_marts",
        project_config=project_config,
        profile_config=profile_config,
        execution_config=execution_config(),
        render_config=render_config(MARTS_SELECT),
        # marts are written to marts__candidate and published by publish_marts
        operator_args=DBT_ARGS,
    )

    for group in (dbt_core, dbt_marts):
        if DBT_EXECUTION == "watcher":
            producer_first(group)
        for node in group.children.values():
            if hasattr(node, "cache_dir"):
                node.cache_dir = PARSE_CACHE

    landed = []
    for source in pipeline.SOURCES:
        batches = extract.override(task_id=f"extract_{source}")(source)
        gate.override(task_id=f"gate_{source}")(batches, source) >> dbt_staging
        landed.append(batches)
    (dbt_staging >> dbt_core >> fit_models() >> prepare_marts() >> dbt_marts >> publish_marts()
     >> run_summary(landed) >> nightly_report())


crm_nightly()
