"""The real ``crm_nightly`` DAG, loaded the way Airflow loads it, for the end-to-end tests."""

from __future__ import annotations

from crmwh import airflow_env


def load(cfg):
    """Migrate the test home's Airflow metadata, parse the dbt project and load the DAG."""
    airflow_env.migrate(cfg)
    airflow_env.dbt_manifest(cfg)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(cfg.dags_dir))
    assert bag.import_errors == {}
    return bag.dags["crm_nightly"]
