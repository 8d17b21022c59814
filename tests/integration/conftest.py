"""Warehouses shared by integration modules, built once per test run.

Only ``served`` is shared: the nightly's build as of the last generated day, which its tests
read (and put back as they found it). The other modules build their own private warehouse
because they need something else, each saying why next to its fixture: test_mart_value builds
the marts before the model fit (NULL predictions) and adds history; test_star_schema and
test_wap change raw and build other as-of dates; test_quality_acceptance changes its sources.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import served as serving
from tests.support.databases import drop_database, fresh_database


@pytest.fixture(scope="session")
def served(cfg, generated, service_up) -> Iterator[serving.Served]:
    """The served warehouse (tests/support/served.py)."""
    yield serving.build(cfg)
    drop_database(cfg, serving.DB_NAME)


@pytest.fixture()
def drops(cfg, monkeypatch, request, tmp_path) -> Iterator[tuple[str, Path]]:
    """A private warehouse of the test's own and an empty billing drop folder, both set as the
    test's settings: (warehouse DSN, drop folder)."""
    name = "t_" + request.node.name.lower()[:40]
    dsn = fresh_database(cfg, name)
    monkeypatch.setenv("CRM_WAREHOUSE_DSN", dsn)
    monkeypatch.setenv("CRM_BILLING_DIR", str(tmp_path / "billing"))
    yield dsn, tmp_path / "billing"
    drop_database(cfg, name)
