"""The mapping file read and checked without a source: every mistake one line naming the
file, the key path and the fix; and records converted onto the contract.
(Against live sources: tests/integration/test_source_mapping.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmwh.errors import CrmwhError
from crmwh.extract import mapped
from crmwh.mapping import model, times
from crmwh.mapping.convert import Converter
from crmwh.source_entities import BY_TABLE, ENTITIES, entities_of
from tests.support.cli import assert_one_clear_line, crmwh

RENAMED = """
sources:
  sales:
    dsn_env: ERP_DSN
    timezone: Europe/Berlin
    entities:
      customers:
        table: erp.kunden
        columns:
          customer_id: kunden_nr
          customer_type: {value: organisation}
          acquisition_channel: {column: kanal, default: web}
          created_at: {column: angelegt, format: "%d.%m.%Y %H:%M:%S"}
          city: {sql: "upper(t.ort)"}
  billing:
    folder: drops
    manifest: false
    csv: {delimiter: ";", encoding: latin-1}
    entities:
      accounts:
        files: "KONTEN_*.csv"
        columns:
          account_id: konto
          account_name: name
          created_at: {column: angelegt, format: "%d.%m.%Y", timezone: UTC}
  service:
    url_env: DESK_URL
    entities:
      tickets:
        endpoint: v2/cases
        columns:
          ticket_id: id
"""


def parse(text: str) -> dict[str, model.SourceMap]:
    return model.parse(Path("/etc/crm/sources.yml"), text)


def test_the_default_mapping_is_the_identity_for_every_entity():
    default = model.read(model.DEFAULT_FILE)
    assert set(default) == {"sales", "billing", "service"}
    for entity in ENTITIES:
        emap = default[entity.source].entities[entity.name]
        assert emap.identity, entity.table
        assert all(m.column == name for name, m in emap.columns.items())
    assert default["sales"].entities["customers"].where == "customers"
    assert default["billing"].entities["invoices"].where == "invoices_*"
    assert default["service"].entities["tickets"].where == "api/v1/tickets"


def test_a_renamed_system_maps_onto_the_contract():
    got = parse(RENAMED)
    assert list(got) == ["sales", "billing", "service"]
    customers = got["sales"].entities["customers"]
    assert not customers.identity
    assert customers.where == "erp.kunden"
    cols = customers.columns
    assert cols["customer_id"].column == "kunden_nr"
    assert cols["customer_type"].value == "organisation" and cols["customer_type"].column is None
    assert cols["acquisition_channel"].default == "web"
    assert cols["city"].sql == "upper(t.ort)"
    # the source's time zone reaches every timestamp; unlisted columns keep their names
    assert cols["created_at"].timezone == "Europe/Berlin"
    assert cols["updated_at"].timezone == "Europe/Berlin" and cols["email"].column == "email"
    assert got["sales"].entities["orders"].where == "orders"
    accounts = got["billing"].entities["accounts"]
    assert accounts.dialect == model.Dialect(";", '"', "latin-1")
    assert accounts.where == "KONTEN_*.csv"
    assert not got["billing"].manifest
    assert got["service"].entities["tickets"].where == "v2/cases"


def test_connections_come_from_the_environment(monkeypatch, tmp_path):
    from crmwh import settings

    got = parse(RENAMED)
    cfg = settings.load()
    monkeypatch.setenv("ERP_DSN", "postgresql://erp@db/erp")
    assert got["sales"].dsn(cfg) == "postgresql://erp@db/erp"
    assert got["billing"].folder(cfg) == Path("/etc/crm/drops")
    monkeypatch.delenv("DESK_URL", raising=False)
    with pytest.raises(CrmwhError) as err:
        got["service"].url(cfg)
    assert "sources.service.url_env" in str(err.value) and "DESK_URL" in str(err.value)
    assert parse("sources: {sales: {}}")["sales"].dsn(cfg) == cfg.sales_dsn


MISTAKES = [
    ("sources: {crm: {}}", "sources.crm", "use one of sales, billing, service"),
    ("sources: {sales: {entities: {kunden: {}}}}", "sources.sales.entities.kunden",
     "use one of sales_reps, customers"),
    ("sources: {sales: {entities: {customers: {tabel: x}}}}",
     "sources.sales.entities.customers.tabel", "use one of table"),
    ("sources: {sales: {entities: {customers: {columns: {kunde: x}}}}}",
     "sources.sales.entities.customers.columns.kunde", "use one of customer_id"),
    ("sources: {sales: {entities: {customers: {columns: {customer_id: {colum: x}}}}}}",
     "columns.customer_id.colum", "use one of column"),
    ("sources: {sales: {entities: {customers: {columns: {created_at: "
     "{column: x, format: '%d.%m.%Y %Q'}}}}}}", "columns.created_at.format", "%Q"),
    ("sources: {sales: {entities: {customers: {columns: {created_at: "
     "{column: x, format: '%m/%Y %H'}}}}}}", "columns.created_at.format", "has no %d"),
    ("sources: {billing: {entities: {invoices: {columns: {due_date: "
     "{column: x, format: '%d.%m.%Y'}, amount: {column: y, format: '%d'}}}}}}",
     "columns.amount.format", "not a date or timestamp"),
    ("sources: {sales: {entities: {customers: {columns: {created_at: "
     "{column: x, timezone: Mars/Olympus}}}}}}", "columns.created_at.timezone", "Mars/Olympus"),
    ("sources: {sales: {timezone: Nowhere}}", "sources.sales.timezone", "Nowhere"),
    ("sources: {billing: {entities: {invoices: {columns: {amount: {sql: 't.x'}}}}}}",
     "columns.amount.sql", "Postgres source"),
    ("sources: {sales: {entities: {customers: {columns: {customer_type: "
     "{value: company}}}}}}", "columns.customer_type.value", "individual, organisation"),
    ("sources: {sales: {entities: {orders: {columns: {customer_id: {value: abc}}}}}}",
     "columns.customer_id.value", "not a valid int"),
    ("sources: {sales: {entities: {orders: {columns: {customer_id: {column: a, value: 1}}}}}}",
     "columns.customer_id", "give one of column, value or sql"),
    ("sources: {sales: {entities: {orders: {columns: {updated_at: "
     "{column: a, format: '%d.%m.%Y %H:%M'}}}}}}", "columns.updated_at.format", "sql:"),
    ("sources: {billing: {csv: {delimiter: ';;'}}}", "sources.billing.csv.delimiter",
     "one character"),
    ("sources: {billing: {csv: {encoding: klingon}}}", "sources.billing.csv.encoding",
     "klingon"),
    ("sources: {billing: {manifest: sometimes}}", "sources.billing.manifest", "true or false"),
    ("sources: {billing: {folder: a, folder_env: B}}", "sources.billing", "give one of them"),
    ("sources: [sales]", "sources", "write sources as keys"),
    ("sources: {sales: {dsn: 'postgresql://u:secret@h/db'}}", "sources.sales.dsn",
     "name that with dsn_env"),
    ("sources: {sales: {entities: {customers: {table: [a, b]}}}}",
     "sources.sales.entities.customers.table", "text"),
    ("sources:\n  sales: {entities: {\n", "(file)", "not valid YAML"),
]


@pytest.mark.parametrize(("text", "key", "fix"), MISTAKES)
def test_each_mistake_is_one_line_naming_file_key_and_fix(text, key, fix):
    with pytest.raises(CrmwhError) as err:
        parse(text)
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith("/etc/crm/sources.yml: ")
    assert key in line and fix in line, line
    assert err.value.fix


def test_the_cli_stops_on_a_mistake_with_exit_2(tmp_path):
    bad = tmp_path / "sources.yml"
    bad.write_text("sources:\n  sales:\n    entities:\n      customers:\n"
                   "        columns: {created_at: {column: angelegt, format: '%d.%m'}}\n")
    done = crmwh("sources", "check", CRM_SOURCES_FILE=str(bad))
    assert_one_clear_line(done, str(bad), "sources.sales.entities.customers.columns.created_at"
                          ".format", "has no %Y", "strptime")
    done = crmwh("run", "--date", "2026-01-05", CRM_SOURCES_FILE=str(bad))
    assert_one_clear_line(done, str(bad), "columns.created_at.format")


def test_times_read_in_their_format_and_zone():
    berlin = times.zone("Europe/Berlin")
    assert times.to_iso("05.01.2026 10:30:00", "timestamptz", "%d.%m.%Y %H:%M:%S",
                        berlin) == "2026-01-05T10:30:00+01:00"
    assert times.to_iso("05.07.2026", "date", "%d.%m.%Y", None) == "2026-07-05"
    assert times.to_iso("2026-07-05 10:00", "timestamptz", None, berlin) == \
        "2026-07-05T10:00:00+02:00"
    # an offset the value carries wins; unreadable values are handed on for quarantine
    assert times.to_iso("2026-07-05T10:00:00+00:00", "timestamptz", None, berlin) == \
        "2026-07-05T10:00:00+00:00"
    assert times.to_iso("31.02.2026", "date", "%d.%m.%Y", None) == "31.02.2026"
    assert times.to_iso("", "date", "%d.%m.%Y", None) == ""


def test_records_convert_onto_the_contract():
    accounts = parse(RENAMED)["billing"].entities["accounts"]
    convert = Converter(accounts)
    got = convert.record({"konto": "A1", "name": "Acme", "angelegt": "05.01.2026",
                          "updated_at": "2026-01-05T00:00:00+00:00", "filiale": "Nord"})
    assert got == {"account_id": "A1", "account_name": "Acme",
                   "created_at": "2026-01-05T00:00:00+00:00",
                   "updated_at": "2026-01-05T00:00:00+00:00", "filiale": "Nord"}
    # a field the source does not send stays missing (the loader tells why)
    assert "email" not in got
    customers = parse(RENAMED)["sales"].entities["customers"]
    got = Converter(customers).record({"kunden_nr": 7, "kanal": ""})
    assert got == {"customer_id": 7, "customer_type": "organisation",
                   "acquisition_channel": "web"}


def test_a_csv_file_in_its_own_dialect_becomes_standard_csv():
    accounts = parse(RENAMED)["billing"].entities["accounts"]
    body = ("konto;name;angelegt;updated_at;filiale\n"
            "A1;\"Müller; \"\"Söhne\"\"\";05.01.2026;2026-01-05T00:00:00+00:00;Nord\n"
            "A2;Kurz;05.01.2026\n"
            "A3;\"Semi;colon\";32.01.2026;2026-01-05T00:00:00+00:00;\n").encode("latin-1")
    out, rejects, records = mapped.csv_body(accounts, body, "2026-01-05/KONTEN_1.csv")
    assert records == 3
    assert [r.reason for r in rejects] == ["malformed CSV line 3: 3 fields, header has 5"]
    lines = out.decode().splitlines()
    assert lines[0] == "account_id,account_name,created_at,updated_at,filiale"
    assert lines[1].startswith("A1,\"Müller; \"\"Söhne\"\"\",2026-01-05T00:00:00+00:00,")
    assert lines[2].startswith('A3,Semi;colon,32.01.2026,')  # left for the loader's reason


def test_json_lines_and_pages_convert_and_keep_what_cannot_be_read():
    tickets = parse(RENAMED)["service"].entities["tickets"]
    page = mapped.page_records(tickets, [{"id": 1, "priority": "low"}, 5])
    assert page == [{"ticket_id": 1, "priority": "low"}, 5]
    invoices = parse("sources: {billing: {entities: {invoices: {columns: "
                     "{invoice_id: nr}}}}}")["billing"].entities["invoices"]
    body = mapped.jsonl_body(invoices, b'{"nr": "I1", "amount": 3}\nnot json\n[1]\n')
    lines = body.decode().split("\n")
    assert json.loads(lines[0]) == {"invoice_id": "I1", "amount": 3}
    assert lines[1:] == ["not json", "[1]", ""]


def test_every_contract_entity_has_a_default_place():
    default = model.read(model.DEFAULT_FILE)
    for source in ("sales", "billing", "service"):
        assert set(default[source].entities) == {e.name for e in entities_of(source)}
    assert BY_TABLE["billing__invoices"].name in default["billing"].entities
