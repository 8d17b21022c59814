"""Connection strings in settings: libpq's key=value form (what `crmwh db url --format libpq`
prints) works wherever a URL does, and no message ever shows a password."""

from __future__ import annotations

import psycopg.conninfo
import pytest

from crmwh import database, settings
from crmwh.errors import CrmwhError
from tests.support.cli import assert_one_clear_line, crmwh
from tests.support.ports import free_port

SECRET = "p w@:/s3cret"


@pytest.mark.parametrize("dsn", [
    f"host=db.example port=6432 user=crm password='{SECRET}' dbname=crm sslmode=require",
    "host=/var/run/postgresql dbname=crm",
    "postgresql://crm:pw@db.example:5432/crm",
])
def test_a_dsn_setting_becomes_a_url_meaning_the_same(monkeypatch, dsn):
    monkeypatch.setenv("CRM_WAREHOUSE_DSN", dsn)
    url = settings.url_setting("CRM_WAREHOUSE_DSN")
    assert url.startswith("postgresql://")
    assert psycopg.conninfo.conninfo_to_dict(url) == psycopg.conninfo.conninfo_to_dict(dsn)


def test_a_dsn_that_does_not_parse_is_named_without_its_value(monkeypatch):
    monkeypatch.setenv("CRM_WAREHOUSE_DSN", f"user=crm password={SECRET.split()[1]} nonsense")
    with pytest.raises(CrmwhError) as err:
        settings.url_setting("CRM_WAREHOUSE_DSN")
    assert "CRM_WAREHOUSE_DSN" in str(err.value) and "s3cret" not in str(err.value)


@pytest.mark.parametrize("dsn", [f"host=db.example user=crm password='{SECRET}' dbname=crm",
                                 "postgresql://crm:s3cret@db.example:5432/crm", "s3cret"])
def test_described_dsns_leave_the_password_out(dsn):
    shown = database.describe(dsn)
    assert "s3cret" not in shown
    assert shown.startswith("postgresql://crm@db.example:") or "does not parse" in shown


def test_an_unreachable_key_value_dsn_is_one_line_without_the_password():
    port = free_port()
    done = crmwh("sql", "select 1",
                 CRM_WAREHOUSE_DSN=f"host=127.0.0.1 port={port} user=u password=s3cret dbname=x",
                 CRM_ANALYST_PASSWORD="p")
    assert_one_clear_line(done, "cannot connect", f"127.0.0.1:{port}", "CRM_WAREHOUSE_DSN")
    assert "s3cret" not in done.stderr + done.stdout
