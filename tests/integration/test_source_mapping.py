"""The mapping file checked against live sources: a mistake is one line naming the file, the
key path and the fix, exit code 2, and nothing lands. (Without a source:
tests/unit/test_source_mapping.py; a mapped system end to end: tests/e2e.)"""

from __future__ import annotations

import psycopg
import pytest

from crmwh import pipeline
from crmwh.errors import CrmwhError
from tests.support.cli import assert_one_clear_line, crmwh
from tests.support.demo import LAST_DAY

KUNDEN = """
drop schema if exists erp_check cascade;
create schema erp_check;
create table erp_check.kunden as select customer_id as kunden_nr, customer_type, name, email,
  phone, tax_id, city, acquisition_channel, referrer_customer_id, sales_rep_id,
  created_at at time zone 'UTC' as angelegt, updated_at, deleted_at from public.customers;
"""
GOOD = """
sources:
  sales:
    dsn_env: ERP_DSN
    entities:
      customers:
        table: erp_check.kunden
        columns: {customer_id: kunden_nr, created_at: {column: angelegt, timezone: UTC}}
"""


@pytest.fixture(scope="module")
def erp(cfg, generated):
    with psycopg.connect(cfg.sales_dsn, autocommit=True) as conn:
        conn.execute(KUNDEN)
    yield cfg.sales_dsn
    with psycopg.connect(cfg.sales_dsn, autocommit=True) as conn:
        conn.execute("drop schema erp_check cascade")


def test_a_good_mapping_checks_out(erp, tmp_path):
    path = tmp_path / "sources.yml"
    path.write_text(GOOD)
    done = crmwh("sources", "check", CRM_SOURCES_FILE=str(path), ERP_DSN=erp)
    assert done.returncode == 0, done.stderr
    assert f"mapping file {path}: OK" in done.stdout
    assert "sales: 8 entities, 1 renamed or converted, checked against the live source" \
        in done.stdout
    assert "billing: not in the file: the default mapping" in done.stdout


LIVE_MISTAKES = [
    ("customer_id: kunden_nr", "customer_id: kundennr",
     "sources.sales.entities.customers.columns.customer_id",
     ["has no column 'kundennr'", "map customer_id to one of its columns: kunden_nr"]),
    ("table: erp_check.kunden", "table: erp_check.kundn",
     "sources.sales.entities.customers.table",
     ["no table 'erp_check.kundn'", "schema.table"]),
    ("customer_id: kunden_nr, ", "",
     "sources.sales.entities.customers.columns.customer_id",
     ["required contract column customer_id is not mapped", "add "]),
    ("customer_id: kunden_nr", "customer_id: kunden_nr, city: {sql: 'upper(t.stadt)'}",
     "sources.sales.entities.customers.columns.city.sql",
     ["t.stadt", "does not exist", "SQL expression"]),
    ("created_at: {column: angelegt, timezone: UTC}",
     "created_at: {column: angelegt, timezone: UTC}, updated_at: angelegt",
     "sources.sales.entities.customers.columns.updated_at",
     ["timestamp without time zone", "timezone:"]),
]


@pytest.mark.parametrize(("old", "new", "key", "words"), LIVE_MISTAKES)
def test_a_live_mistake_is_one_line_exit_2_and_lands_nothing(erp, tmp_path, conn, monkeypatch,
                                                             old, new, key, words):
    path = tmp_path / "sources.yml"
    text = GOOD.replace(old, new)
    assert text != GOOD
    path.write_text(text)
    done = crmwh("sources", "check", CRM_SOURCES_FILE=str(path), ERP_DSN=erp)
    assert_one_clear_line(done, str(path), key, *words)
    if key.endswith("customer_id"):  # the nightly stops there before anything starts
        done = crmwh("run", "--date", str(LAST_DAY), CRM_SOURCES_FILE=str(path), ERP_DSN=erp)
        assert_one_clear_line(done, str(path), key)
    # an extract task checks first: no batch of any entity lands
    monkeypatch.setenv("CRM_SOURCES_FILE", str(path))
    monkeypatch.setenv("ERP_DSN", erp)
    batches = "select count(*) from audit.load_batches"
    before = conn.execute(batches).fetchone()[0]
    with pytest.raises(CrmwhError) as err:
        pipeline.extract_and_land("sales", LAST_DAY, "mapping-mistake")
    assert key in str(err.value)
    assert conn.execute(batches).fetchone()[0] == before


def test_a_billing_file_without_the_mapped_column(cfg, generated, tmp_path):
    path = tmp_path / "sources.yml"
    path.write_text(f"sources:\n  billing:\n    folder: {cfg.billing_dir}\n    entities:\n"
                    "      accounts: {columns: {account_id: konto}}\n")
    done = crmwh("sources", "check", CRM_SOURCES_FILE=str(path))
    assert_one_clear_line(done, str(path), "sources.billing.entities.accounts.columns.account_id",
                          "the file accounts_", "has no column 'konto'", "account_name")
    # a CSV dialect that does not fit the files shows the same way: one field in the header
    path.write_text(f"sources:\n  billing:\n    folder: {cfg.billing_dir}\n"
                    "    csv: {delimiter: ';'}\n")
    done = crmwh("sources", "check", CRM_SOURCES_FILE=str(path))
    assert_one_clear_line(done, str(path), "columns.account_id",
                          "required contract column account_id is not mapped")


def test_an_unset_connection_variable(tmp_path, monkeypatch):
    path = tmp_path / "sources.yml"
    path.write_text(GOOD)
    monkeypatch.delenv("ERP_DSN", raising=False)
    done = crmwh("sources", "check", CRM_SOURCES_FILE=str(path))
    assert_one_clear_line(done, str(path), "sources.sales.dsn_env", "ERP_DSN is not set",
                          "export ERP_DSN")
