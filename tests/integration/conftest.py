"""Warehouses shared by integration modules, built once per test run.

Only ``served`` is shared: the nightly's build as of the last generated day, which its tests
read (and put back as they found it). The other modules build their own private warehouse
because they need something else, each saying why next to its fixture: test_mart_value builds
the marts before the model fit (NULL predictions) and adds history; test_star_schema and
test_wap change raw and build other as-of dates; test_quality_acceptance changes its sources.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import served as serving
from tests.support.databases import drop_database


@pytest.fixture(scope="session")
def served(cfg, generated, service_up) -> Iterator[serving.Served]:
    """The served warehouse (tests/support/served.py)."""
    yield serving.build(cfg)
    drop_database(cfg, serving.DB_NAME)
