"""DAG integrity: the DAG folder imports cleanly, fast, without cycles, as designed."""

from __future__ import annotations

import json
import time

import pytest

from crmwh import airflow_env
from crmwh.publish import CANDIDATE
from tests.support import dbt_runner


@pytest.fixture(scope="module")
def dagbag(cfg):
    from airflow.dag_processing.dagbag import DagBag

    airflow_env.dbt_manifest(cfg)
    started = time.monotonic()
    bag = DagBag(dag_folder=str(cfg.dags_dir))
    bag.parse_seconds = time.monotonic() - started
    return bag


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_parse_time_is_reported_and_small(dagbag, record_property):
    record_property("dagbag_parse_seconds", round(dagbag.parse_seconds, 2))
    print(f"\nDAG folder parsed in {dagbag.parse_seconds:.2f} s")
    assert dagbag.parse_seconds < 30


def test_crm_nightly_shape(dagbag):
    dag = dagbag.dags["crm_nightly"]
    assert dag is not None
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.doc_md and "Great Expectations" in dag.doc_md
    assert dag.schedule == "0 2 * * *"  # nightly at 02:00 UTC
    ids = set(dag.task_ids)
    for source in ("sales", "billing", "service"):
        assert f"extract_{source}" in ids
        assert f"gate_{source}" in ids
        # every gate stands between its extract and every dbt task
        gate = dag.get_task(f"gate_{source}")
        assert f"extract_{source}" in gate.upstream_task_ids
    # the staging views build in one task after every gate and before every other dbt task
    staging = dag.get_task("dbt_staging")
    assert staging.select == "path:models/staging"
    assert staging.indirect_selection == "cautious"  # tests reading core run after core
    core_test = dag.get_task("dbt_core.dbt_project_test")
    assert core_test.indirect_selection == "cautious"  # ... here: not excluded with staging
    assert {f"gate_{s}" for s in ("sales", "billing", "service")} <= staging.upstream_task_ids
    core_tasks = [t for t in dag.tasks if t.task_id.startswith("dbt_core.")]
    assert not any(".stg_" in t.task_id for t in core_tasks)
    for t in core_tasks:
        assert "dbt_staging" in {a.task_id for a in t.get_flat_relatives(upstream=True)}, t.task_id
    mart_tasks = [t for t in dag.tasks if t.task_id.startswith("dbt_marts.")]
    assert core_tasks and mart_tasks
    assert any("fct_orders" in t.task_id for t in core_tasks)
    assert any("int_customer_value__monthly" in t.task_id for t in core_tasks)
    assert not any("mart_" in t.task_id for t in core_tasks)
    for name in ("mart_customer_value_history", "mart_customer_value", "mart_value_tiers",
                 "mart_concentration", "mart_profitability_by_size"):
        assert any(name in t.task_id for t in mart_tasks), name
    for t in core_tasks + mart_tasks:
        ancestors = {a.task_id for a in t.get_flat_relatives(upstream=True)}
        assert {"gate_sales", "gate_billing", "gate_service"} <= ancestors, t.task_id
    # the model fit runs after every core task and before every mart task
    fit = dag.get_task("fit_models")
    assert fit.retries == 0
    fit_ancestors = {a.task_id for a in fit.get_flat_relatives(upstream=True)}
    assert {t.task_id for t in core_tasks} <= fit_ancestors
    for t in mart_tasks:
        assert "fit_models" in {a.task_id for a in t.get_flat_relatives(upstream=True)}, t.task_id
    # every test of a group runs in one task at its end, before anything downstream
    for group, tasks in (("dbt_core", core_tasks), ("dbt_marts", mart_tasks)):
        tests = [t for t in tasks if "Test" in type(t).__name__]
        assert len(tests) == 1, (group, [t.task_id for t in tests])
        before = {a.task_id for a in tests[0].get_flat_relatives(upstream=True)}
        # (the watcher's "producer done" gate only ends the group, beside the tests)
        done = {f"{group}.dbt_producer_watcher_done"}
        assert {t.task_id for t in tasks} - {tests[0].task_id} - done <= before, group
    # write-audit-publish: marts are built in marts__candidate, then published, then reported
    prepare, publish = dag.get_task("prepare_marts"), dag.get_task("publish_marts")
    assert "fit_models" in {a.task_id for a in prepare.get_flat_relatives(upstream=True)}
    for t in mart_tasks:
        assert "prepare_marts" in {a.task_id for a in t.get_flat_relatives(upstream=True)}
        if hasattr(t, "vars"):  # every dbt operator (not the empty ephemeral-model tasks)
            assert t.vars["marts_schema"] == CANDIDATE, t.task_id  # built aside
    assert {t.task_id for t in mart_tasks} <= {
        a.task_id for a in publish.get_flat_relatives(upstream=True)}
    assert "publish_marts" in dag.get_task("run_summary").upstream_task_ids
    assert "run_summary" in dag.get_task("nightly_report").upstream_task_ids


def test_one_dbt_build_per_group_and_one_task_per_model(dagbag):
    """dbt_core and dbt_marts each run one ``dbt build`` (the watcher's producer) and show one
    sensor per model, started after the build whatever its outcome (``airflow dags test`` runs
    one ready task at a time), skipped when the build never ran; then one test task."""
    dag = dagbag.dags["crm_nightly"]
    for group in ("dbt_core", "dbt_marts"):
        tasks = [t for t in dag.tasks if t.task_id.startswith(f"{group}.")]
        producers = [t for t in tasks if type(t).__name__ == "DbtProducerWatcherOperator"]
        assert [p.task_id for p in producers] == [f"{group}.dbt_producer_watcher"]
        producer = producers[0]
        sensors = [t for t in tasks if type(t).__name__.endswith("WatcherOperator")
                   and t is not producer]
        assert len(sensors) >= 10, group
        ids = {t.task_id for t in tasks}
        for t in tasks:
            if t is producer or t.task_id.endswith("_done"):
                continue
            assert producer.task_id in {a.task_id for a in t.get_flat_relatives(upstream=True)}
            if not t.upstream_task_ids & (ids - {producer.task_id}):  # starts the group
                assert t.upstream_task_ids == {producer.task_id}, t.task_id
                assert t.trigger_rule == "one_done", t.task_id
        # the build leaves the tests to the group's test task
        assert "--resource-type" in producer.dbt_cmd_flags and "test" not in producer.dbt_cmd_flags


def test_retries_with_backoff(dagbag):
    dag = dagbag.dags["crm_nightly"]
    extract = dag.get_task("extract_sales")
    assert extract.retry_exponential_backoff
    assert dag.get_task("gate_sales").retries == 0  # a failed gate is not retried


def test_every_task_has_an_execution_timeout(dagbag):
    dag = dagbag.dags["crm_nightly"]
    limits = {t.task_id: t.execution_timeout for t in dag.tasks}
    assert limits and all(v is not None and v.total_seconds() == 240 * 60
                          for v in limits.values()), limits


def test_a_bad_retries_setting_is_a_clear_import_error(cfg, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("CRM_TASK_RETRIES", "many")
    bag = DagBag(dag_folder=str(cfg.dags_dir))
    assert "crm_nightly" not in bag.dags
    errors = "\n".join(bag.import_errors.values())
    assert "CRM_TASK_RETRIES='many' is not a whole number from 0 or more" in errors


def test_the_schedule_is_a_setting(cfg, monkeypatch):
    """``CRM_NIGHTLY_SCHEDULE=none``: triggered runs only (the scheduler starts no night)."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("CRM_NIGHTLY_SCHEDULE", "none")
    dag = DagBag(dag_folder=str(cfg.dags_dir)).dags["crm_nightly"]
    assert dag.schedule is None
    monkeypatch.setenv("CRM_NIGHTLY_SCHEDULE", "every night")
    bag = DagBag(dag_folder=str(cfg.dags_dir))
    assert "crm_nightly" not in bag.dags
    assert "CRM_NIGHTLY_SCHEDULE='every night' is not a cron" in "\n".join(
        bag.import_errors.values())


def test_local_execution_runs_one_dbt_invocation_per_model(cfg, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("CRM_DBT_EXECUTION", "local")
    dag = DagBag(dag_folder=str(cfg.dags_dir)).dags["crm_nightly"]
    core = [t for t in dag.tasks if t.task_id.startswith("dbt_core.")]
    assert not any("Watcher" in type(t).__name__ for t in core)
    assert type(dag.get_task("dbt_core.fct_orders_run")).__name__ == "DbtRunLocalOperator"


def test_a_bad_dbt_execution_setting_is_a_clear_import_error(cfg, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("CRM_DBT_EXECUTION", "fast")
    bag = DagBag(dag_folder=str(cfg.dags_dir))
    assert "crm_nightly" not in bag.dags
    assert "CRM_DBT_EXECUTION='fast' is not one of watcher, local" in "\n".join(
        bag.import_errors.values())


def test_no_cycles(dagbag):
    dag = dagbag.dags["crm_nightly"]
    # topological sort raises on a cycle
    order = [t.task_id for t in dag.topological_sort()]
    assert len(order) == len(dag.tasks)


def _dbt_args(op) -> list[str]:
    """The selection flags a cosmos dbt operator passes to dbt."""
    args = []
    for flag, value in (("--select", op.select), ("--exclude", op.exclude)):
        if value:
            args += [flag, *(value.split() if isinstance(value, str) else value)]
    if getattr(op, "indirect_selection", None):
        args += ["--indirect-selection", op.indirect_selection]
    return args


def test_every_dbt_test_runs_exactly_once_a_night(dagbag, cfg, tmp_path):
    """The nightly's three dbt test runs (staging's build, each group's test task) together
    select every data and unit test of the project, none twice."""
    dag = dagbag.dags["crm_nightly"]
    runs = {t: dag.get_task(t) for t in
            ("dbt_staging", "dbt_core.dbt_project_test", "dbt_marts.dbt_project_test")}

    def tests(*args: str) -> set[str]:
        out = dbt_runner.ok(cfg.warehouse_dsn, "ls", "--resource-type", "test", "unit_test",
                            "-q", "--output", "json", "--output-keys", "unique_id", *args,
                            target=tmp_path)
        return {json.loads(line)["unique_id"] for line in out.splitlines()
                if line.startswith("{")}

    everything = tests()
    selected = {name: tests(*_dbt_args(op)) for name, op in runs.items()}
    assert len(everything) > 500
    assert set.union(*selected.values()) == everything
    assert sum(len(s) for s in selected.values()) == len(everything), {
        n: len(s) for n, s in selected.items()}
    assert "test.crm_warehouse.assert_raw_reconciles_to_facts" in selected[
        "dbt_core.dbt_project_test"]


def test_dbt_vars_render_the_runs_as_of_date(dagbag):
    """Every dbt task's as_of_date var is the run's as-of date (crmwh.as_of): the last
    complete day for a scheduled run, the logical date for a manual one."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from airflow.utils.types import DagRunType

    dag = dagbag.dags["crm_nightly"]
    at_two = datetime(2026, 12, 6, 2, tzinfo=UTC)
    runs = {
        "2026-12-05": SimpleNamespace(run_type=DagRunType.SCHEDULED, logical_date=at_two,
                                      run_after=at_two),
        "2026-03-31": SimpleNamespace(run_type=DagRunType.MANUAL,
                                      logical_date=datetime(2026, 3, 31, tzinfo=UTC),
                                      run_after=datetime(2026, 4, 1, 9, tzinfo=UTC)),
    }
    dbt_tasks = [t for t in dag.tasks if hasattr(t, "vars")]  # every cosmos dbt operator
    assert len(dbt_tasks) > 3
    for expected, run in runs.items():
        context = {"dag_run": run, "run_id": "render-test"}
        for t in dbt_tasks:
            rendered = t.render_template(t.vars, context)
            assert rendered["as_of_date"] == expected, (t.task_id, run.run_type)
            assert rendered["dq_run_id"] == "render-test", t.task_id
