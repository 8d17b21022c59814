"""Billing's further entities through the real extractor and loader into a scratch warehouse:
the file-level dirt of generated drops (malformed CSV lines, a new column), and hand-made files
for the paths generated drops do not take. (The generator and the drops as written:
tests/unit/test_source_billing.py.)
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta

import pytest

from crmwh import database, pipeline
from crmwh_devkit.simulators import billing_drops
from tests.support.billing_files import delivered, write_drop
from tests.support.databases import drop_database, fresh_database
from tests.support.demo import CONFIG, DAYS, LAST_DAY, SEED, START
from tests.support.entities import BILLING_NEW as NEW


@pytest.fixture()
def scratch(cfg, demo_data, monkeypatch, request, tmp_path):
    """A fresh warehouse database and a billing drop folder with file dirt, for one test."""
    name = "t_" + request.node.name.lower()[:40]
    dsn = fresh_database(cfg, name)
    monkeypatch.setenv("CRM_WAREHOUSE_DSN", dsn)
    folder = tmp_path / "billing"
    drift = billing_drops.Drift(starts=START + timedelta(days=25))
    billing_drops.write(folder, demo_data.billing, START, DAYS, SEED, CONFIG.late_file_rate,
                        CONFIG.redelivery_rate, malformed_rate=0.01, drift=drift)
    monkeypatch.setenv("CRM_BILLING_DIR", str(folder))
    yield dsn, folder, drift
    drop_database(cfg, name)


def test_malformed_lines_are_quarantined_and_the_new_column_lands_in_extra(scratch):
    dsn, folder, drift = scratch
    day = LAST_DAY
    batches = pipeline.extract_and_land("billing", day, "t")
    pipeline.quality_gate(batches, "t")  # the suites pass on the real files
    files = delivered(folder, day)
    by_entity = {b["entity"]: b for b in batches}
    with database.connect(dsn) as c:
        for entity, b in by_entity.items():
            mine = [v for v in files.values() if v[0] == entity]
            # every delivered line is extracted once, and lands or is quarantined
            assert b["rows_extracted"] == sum(v[3] for v in mine), entity
            assert b["rows_extracted"] == (b["rows_loaded"] + b["rows_unchanged"]
                                           + b["rows_quarantined"]), b
            # the gate parked the rows whose parent is not delivered yet: the record says so
            loaded, parked = c.execute("select rows_loaded, rows_parked from audit.load_batches "
                                       "where batch_id = %s", (b["batch_id"],)).fetchone()
            assert loaded + parked == b["rows_loaded"]
            raw = c.execute(f"select count(*) from raw.billing__{entity} where _batch_id = %s",
                            (b["batch_id"],)).fetchone()[0]
            waiting = c.execute("select count(*) from quarantine.parked where batch_id = %s",
                                (b["batch_id"],)).fetchone()[0]
            assert (raw, waiting) == (loaded, parked)
            expected = 0
            for _entity, fmt, body, _rows, _drop in mine:
                if fmt == "csv" and body:
                    rows = list(csv.reader(io.StringIO(body.decode())))
                    expected += sum(len(r) != len(rows[0]) for r in rows[1:])
            got = c.execute(
                """select count(*) from quarantine.rows where batch_id = %s
                   and reason like 'malformed CSV line %%'""", (b["batch_id"],)).fetchone()[0]
            assert got == expected, entity
        reasons = [r for (r,) in c.execute(
            "select reason from quarantine.rows where reason like 'malformed CSV%%'")]
        assert reasons and all("fields, header has" in r for r in reasons)
        payload = c.execute("select payload->>'line' from quarantine.rows "
                            "where reason like 'malformed CSV%%' limit 1").fetchone()[0]
        assert payload  # the line as delivered is kept
        # the gate reports one check per batch and kind of malformed line, naming the first
        # lines, not one per line
        lines: dict[str, list[int]] = {}
        for batch, reason in c.execute("select batch_id, reason from quarantine.rows "
                                       "where reason like 'malformed CSV%%'"):
            lines.setdefault(batch, []).append(int(re.match(r"malformed CSV line (\d+): ",
                                                            reason).group(1)))
        checks = {batch: observed for batch, observed in c.execute(
            "select batch_id, observed from audit.dq_results "
            "where check_name = 'landing: malformed CSV line'")}
        assert checks.keys() == lines.keys()
        for batch, found in lines.items():
            n, first = len(found), ", ".join(map(str, sorted(set(found))[:5]))
            assert checks[batch].startswith(f"{n} {'row' if n == 1 else 'rows'} quarantined "
                                            f"(line"), checks[batch]
            assert f" {first}" in checks[batch], (checks[batch], found)
        # the new column: kept in _extra from the drift date on, never before
        extra = c.execute(
            f"""select _source_ref, _extra ->> '{drift.column}' from raw.billing__{drift.entity}
                where _extra is not null""").fetchall()
        assert extra
        assert all(v.startswith("PO-") for _, v in extra)
        starts = drift.starts.strftime("%Y%m%d")
        assert all(ref.split("_")[-1][:8] >= starts for ref, _ in extra)
        before = c.execute(
            f"""select count(*) from raw.billing__{drift.entity}
                where split_part(split_part(_source_ref, '_', 3), '.', 1) < %s""",
            (starts,)).fetchone()[0]
        assert before > 0
        assert c.execute(
            f"""select count(*) from raw.billing__{drift.entity}
                where _extra is not null
                  and split_part(split_part(_source_ref, '_', 3), '.', 1) < %s""",
            (starts,)).fetchone()[0] == 0
    assert all(by_entity[e]["rows_loaded"] > 0 for e in NEW)


# --- hand-made files: the paths generated drops do not take ---------------------------


def _drop(folder, day: str, files: dict[str, tuple[str, str, bytes]]) -> None:
    write_drop(folder, day, files)


def test_quoted_csv_and_odd_json_lines_are_landed_or_quarantined(drops):
    dsn, folder = drops
    accounts = (b'account_id,account_name,email,phone,tax_id,created_at,updated_at\n'
                b'BA-1,"Smith, Jane","a@x.cn",,,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z\n'
                b'BA-2,"Line\nBreak Ltd",,,,2026-01-01T00:00:00Z,2026-01-02T00:00:00+08:00\n'
                b'BA-3,"Short",2026-01-01T00:00:00Z\n'
                b'BA-4,"Quote ""Q"" Co",,,,2026-01-01T00:00:00Z,2026-01-03T00:00:00Z\n')
    invoice = {"invoice_id": "INV-1", "account_id": "BA-1", "invoice_date": "2026-01-01",
               "due_date": "2026-01-31", "amount": 12.5, "currency": "CNY", "status": "open",
               "updated_at": "2026-01-02T00:00:00Z"}
    invoices = "\n".join([
        json.dumps(invoice),
        "",
        "{not json",
        json.dumps({**invoice, "invoice_id": "INV-2", "po_number": "PO-7", "note": None}),
        "[1, 2]",
        json.dumps({**invoice, "invoice_id": "INV-3", "amount": "lots"}),
    ]).encode() + b"\n"
    _drop(folder, "2026-01-02", {"accounts_20260102.csv": ("accounts", "csv", accounts),
                                  "invoices_20260102.jsonl": ("invoices", "jsonl", invoices)})
    batches = {b["entity"]: b for b in pipeline.extract_and_land("billing", date(2026, 1, 2), "h")}
    acc, inv = batches["accounts"], batches["invoices"]
    assert (acc["rows_extracted"], acc["rows_loaded"], acc["rows_quarantined"]) == (4, 3, 1)
    assert (inv["rows_extracted"], inv["rows_loaded"], inv["rows_quarantined"]) == (5, 2, 3)
    with database.connect(dsn) as c:
        names = dict(c.execute("select account_id, account_name from raw.billing__accounts"))
        assert names == {"BA-1": "Smith, Jane", "BA-2": "Line\nBreak Ltd", "BA-4": 'Quote "Q" Co'}
        assert c.execute("select _source_ref from raw.billing__accounts "
                         "where account_id = 'BA-4'").fetchone()[0] == \
            "2026-01-02/accounts_20260102.csv"
        reasons = dict(c.execute("select reason, payload from quarantine.rows"))
        extra = dict(c.execute("select invoice_id, _extra from raw.billing__invoices"))
    assert "malformed CSV line 4: 3 fields, header has 7" in reasons
    # records are numbered as parsed (the header is 1; a quoted line break stays in its record)
    assert reasons["malformed CSV line 4: 3 fields, header has 7"]["line"].startswith("BA-3,")
    bad_json = [r for r in reasons if r.startswith("malformed JSON line 3: ")]
    assert len(bad_json) == 1 and reasons[bad_json[0]] == {"line": "{not json"}
    assert reasons["malformed JSON line 5: not an object"] == {"line": [1, 2]}
    assert reasons["bad numeric in amount"]["amount"] == "lots"  # the delivered text is kept
    assert extra == {"INV-1": None, "INV-2": {"po_number": "PO-7"}}


def test_a_later_drop_lands_only_new_versions(drops):
    dsn, folder = drops
    row = {"invoice_id": "INV-1", "account_id": "BA-1", "invoice_date": "2026-01-01",
           "due_date": "2026-01-31", "amount": 12.5, "currency": "CNY", "status": "open",
           "updated_at": "2026-01-02T00:00:00Z"}

    def lines(*rows: dict) -> bytes:
        return "".join(json.dumps(r) + "\n" for r in rows).encode()

    _drop(folder, "2026-01-02", {"invoices_20260102.jsonl": ("invoices", "jsonl", lines(row))})
    first = pipeline.extract_and_land("billing", date(2026, 1, 2), "a")
    # the same version again (another time zone and number format), a new version, and a
    # new invoice delivered twice
    again = {**row, "amount": "12.50", "updated_at": "2026-01-02T08:00:00+08:00"}
    newer = {**row, "status": "paid", "updated_at": "2026-01-03T00:00:00Z"}
    other = {**row, "invoice_id": "INV-2"}
    _drop(folder, "2026-01-03",
          {"invoices_20260103.jsonl": ("invoices", "jsonl", lines(again, newer, other, other))})
    second = pipeline.extract_and_land("billing", date(2026, 1, 3), "b")
    b = next(x for x in second if x["entity"] == "invoices")
    assert next(x for x in first if x["entity"] == "invoices")["rows_loaded"] == 1
    assert (b["rows_extracted"], b["rows_loaded"], b["rows_unchanged"],
            b["rows_quarantined"]) == (4, 2, 1, 1)
    with database.connect(dsn) as c:
        versions = c.execute("select invoice_id, status from raw.billing__invoices "
                             "order by invoice_id, updated_at").fetchall()
        reasons = [r for (r,) in c.execute("select reason from quarantine.rows")]
    assert versions == [("INV-1", "open"), ("INV-1", "paid"), ("INV-2", "open")]
    assert reasons == ["duplicate of another row in the same batch"]


def test_plain_csv_is_typed_by_copy_and_only_failing_lines_take_the_text_path(drops):
    """Plain CSV goes straight into typed columns; a line COPY cannot type is checked
    as text and quarantined with its reasons and delivered values, and every other line
    lands with its file as source. Unknown fields end up in ``_extra``."""
    dsn, folder = drops
    head = b"payment_id,invoice_id,account_id,paid_at,amount,method,updated_at"
    day1 = (head + b"\n"
            b"P-1,INV-1,BA-1,2026-01-01T10:00:00Z,10.50,card,2026-01-01T10:00:00Z\n"
            b"P-2,INV-2,BA-1,2026-01-01T11:00:00+08:00,lots,card,2026-01-01T11:00:00Z\n"
            b"P-3,INV-3,BA-2,soon,-3,cash,2026-01-01T12:00:00Z\n"
            b"P-4,INV-4,BA-2,2026-01-01T13:00:00Z, ,cash,2026-01-01T13:00:00Z\n"
            b"P-5,INV-5,BA-3,2026-01-01T14:00:00Z,-2,cash,2026-01-01T14:00:00Z\n")
    day2 = (head + b",note\n"
            b"P-6,INV-6,BA-3,2026-01-02T10:00:00Z,7,card,2026-01-02T10:00:00Z,late\n"
            b"P-7,INV-7,BA-3,2026-01-02T11:00:00Z,x7,card,2026-01-02T11:00:00Z,\n"
            b"P-1,INV-1,BA-1,2026-01-01T18:00:00+08:00,10.5,card,2026-01-01T10:00:00Z,\n")
    _drop(folder, "2026-01-01", {"payments_20260101.csv": ("payments", "csv", day1)})
    _drop(folder, "2026-01-02", {"payments_20260102.csv": ("payments", "csv", day2)})
    first = next(b for b in pipeline.extract_and_land("billing", date(2026, 1, 1), "a")
                 if b["entity"] == "payments")
    second = next(b for b in pipeline.extract_and_land("billing", date(2026, 1, 2), "b")
                  if b["entity"] == "payments")
    assert (first["rows_extracted"], first["rows_loaded"], first["rows_quarantined"]) == (5, 1, 4)
    assert (second["rows_extracted"], second["rows_loaded"], second["rows_unchanged"],
            second["rows_quarantined"]) == (3, 1, 1, 1)
    with database.connect(dsn) as c:
        landed = c.execute("select payment_id, amount, _source_ref, _extra "
                           "from raw.billing__payments order by payment_id").fetchall()
        reasons = {p["payment_id"]: (r, p) for r, p in c.execute(
            "select reason, payload from quarantine.rows")}
    assert [(p, float(a), ref, x) for p, a, ref, x in landed] == [
        ("P-1", 10.5, "2026-01-01/payments_20260101.csv", None),
        ("P-6", 7.0, "2026-01-02/payments_20260102.csv", {"note": "late"})]
    assert reasons["P-2"][0] == "bad numeric in amount" and reasons["P-2"][1]["amount"] == "lots"
    assert reasons["P-3"][0] == "bad timestamptz in paid_at; amount below 0"
    assert reasons["P-3"][1]["paid_at"] == "soon"
    assert reasons["P-4"][0] == "missing amount"
    assert reasons["P-5"][0] == "amount below 0"
    assert reasons["P-7"][0] == "bad numeric in amount"
