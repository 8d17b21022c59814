"""The CLI on the test server's warehouse. (Help and configuration errors:
tests/unit/test_cli.py.)"""

from __future__ import annotations

from tests.support.cli import crmwh


def test_sql_prints_a_table(cfg):
    done = crmwh("sql", "select 1 as one, 'x' as letter")
    assert done.returncode == 0, done.stderr
    assert "one | letter" in done.stdout and "(1 rows)" in done.stdout
