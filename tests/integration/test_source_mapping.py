"""The mapping file checked against live sources: a mistake is one line naming the file, the
key path and the fix, exit code 2, and nothing lands. (Without a source:
tests/unit/test_source_mapping.py; a mapped system end to end: tests/e2e.)"""

from __future__ import annotations

import csv
import io
import json

import psycopg
import pytest

from crmwh import database, pipeline
from crmwh.errors import CrmwhError
from crmwh.source_entities import BY_TABLE
from crmwh_devkit.simulators import billing_drops
from tests.support.cli import assert_one_clear_line, crmwh
from tests.support.databases import drop_database, fresh_database
from tests.support.demo import CONFIG, DAYS, LAST_DAY, SEED, START

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


ACCOUNTS = {"account_id": "konto", "account_name": "kontobezeichnung", "created_at": "angelegt"}
INVOICES = {"invoice_id": "belegnr", "account_id": "konto", "invoice_date": "datum"}


def _german_date(value):
    """An ISO date as the billing system of one's own writes it (other values as they are)."""
    from datetime import date

    try:
        return date.fromisoformat(value).strftime("%d.%m.%Y")
    except (TypeError, ValueError):
        return value


def _own_folder(drops, own) -> None:
    """The simulator's drops as another billing system writes them: accounts as
    semicolon-separated cp1252 ``KONTEN_*.csv`` with its own column names, invoices as
    ``RECHNUNGEN_*.jsonl`` with its own keys and German dates, no manifests."""
    for drop in sorted(p for p in drops.iterdir() if p.is_dir()):
        (own / drop.name).mkdir(parents=True)
        for path in drop.iterdir():
            body = path.read_bytes()
            if path.name.startswith("accounts_"):
                rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
                rows[0] = [ACCOUNTS.get(h, h) for h in rows[0]]
                out = io.StringIO()
                csv.writer(out, delimiter=";", lineterminator="\n").writerows(rows)
                name = path.name.replace("accounts_", "KONTEN_")
                (own / drop.name / name).write_bytes(out.getvalue().encode("cp1252"))
            elif path.name.startswith("invoices_"):
                lines = []
                for line in body.decode().splitlines():
                    try:
                        record = json.loads(line)
                    except ValueError:
                        lines.append(line)
                        continue
                    if isinstance(record, dict):
                        record["invoice_date"] = _german_date(record.get("invoice_date"))
                        record = {INVOICES.get(k, k): v for k, v in record.items()}
                    lines.append(json.dumps(record))
                name = path.name.replace("invoices_", "RECHNUNGEN_")
                (own / drop.name / name).write_text("\n".join(lines) + "\n")
            elif path.name != "manifest.json":
                (own / drop.name / path.name).write_bytes(body)


def _landed(dsn: str, entity: str) -> tuple[list, list]:
    cols = ", ".join(f'"{c}"' for c in BY_TABLE[f"billing__{entity}"].column_names)
    with database.connect(dsn) as c:
        rows = c.execute(f"select {cols} from raw.billing__{entity} order by 1, 2").fetchall()
        reasons = c.execute("select reason from quarantine.rows where entity = %s "
                            "order by 1", (entity,)).fetchall()
    return rows, reasons


def test_a_billing_folder_of_its_own_lands_what_the_simulator_does(cfg, demo_data, tmp_path,
                                                                   monkeypatch):
    drops = tmp_path / "drops"
    billing_drops.write(drops, demo_data.billing, START, DAYS, SEED, CONFIG.late_file_rate,
                        CONFIG.redelivery_rate, malformed_rate=0.01)
    _own_folder(drops, tmp_path / "own")
    mapping = tmp_path / "sources.yml"
    mapping.write_text(f"""
sources:
  billing:
    folder: own
    manifest: false
    entities:
      accounts:
        files: "KONTEN_*.csv"
        csv: {{delimiter: ";", encoding: cp1252}}
        columns: {json.dumps(ACCOUNTS)}
      invoices:
        files: "RECHNUNGEN_*.jsonl"
        columns:
          invoice_id: belegnr
          account_id: konto
          invoice_date: {{column: datum, format: "%d.%m.%Y"}}
""")
    landed = {}
    try:
        for run, env in (("default", {"CRM_BILLING_DIR": str(drops)}),
                         ("own", {"CRM_SOURCES_FILE": str(mapping)})):
            dsn = fresh_database(cfg, f"t_billing_{run}")
            monkeypatch.setenv("CRM_WAREHOUSE_DSN", dsn)
            for k, v in env.items():
                monkeypatch.setenv(k, v)
            done = crmwh("sources", "check")
            assert done.returncode == 0, done.stderr
            batches = pipeline.extract_and_land("billing", LAST_DAY, f"t-{run}")
            landed[run] = ({b["entity"]: b["rows_extracted"] for b in batches},
                           {e: _landed(dsn, e) for e in ("accounts", "invoices", "payments")})
            monkeypatch.delenv("CRM_BILLING_DIR", raising=False)
    finally:
        for run in ("default", "own"):
            drop_database(cfg, f"t_billing_{run}")
    default, own = landed["default"], landed["own"]
    assert own[0] == default[0] and default[0]["accounts"] > 0
    for entity in ("accounts", "invoices", "payments"):
        rows, reasons = own[1][entity]
        assert rows == default[1][entity][0], entity
        assert reasons == default[1][entity][1], entity
    assert any("malformed CSV line" in r[0] for r in default[1]["accounts"][1])
