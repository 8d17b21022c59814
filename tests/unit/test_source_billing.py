"""Billing's further entities: invoice lines, contracts, credit notes, credit lines.

Generator behaviour is checked against the latent population (true churn times,
late payers); the file-level dirt (malformed CSV lines, a new column) goes through
the real extractor and loader into a scratch warehouse.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from crmwh import database, pipeline, source_entities
from crmwh_devkit.simulators import billing_drops, gen_billing
from crmwh_devkit.simulators.generator import GeneratorConfig, generate
from tests.conftest import DAYS, SEED, START, drop_database, fresh_database

NEW = ("invoice_lines", "contracts", "credit_notes", "credit_lines")
DAY = np.timedelta64(1, "D")


def _generate(config: GeneratorConfig):
    """The generator's output and the latent population the billing generator saw."""
    seen = {}
    real = gen_billing.generate

    def spy(pop, rng):
        seen["pop"] = pop
        return real(pop, rng)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gen_billing, "generate", spy)
        data = generate(config)
    return data, seen["pop"]


@pytest.fixture(scope="module")
def world():
    return _generate(GeneratorConfig(seed=SEED, customers=3000, start=START, days=120))


def _clean_invoices(data) -> pd.DataFrame:
    """Invoices without the generator's dirt (bad amounts, duplicated rows)."""
    inv = data.billing["invoices"].drop_duplicates("invoice_id").copy()
    inv["amount"] = pd.to_numeric(inv["amount"], errors="coerce")
    return inv[inv["amount"] >= 0]


# --- generation ----------------------------------------------------------------------


def test_columns_match_the_contract_and_generation_is_deterministic(world):
    data, _ = world
    small = GeneratorConfig(seed=3, customers=400, start=START, days=45)
    a, b = generate(small), generate(small)
    for name in NEW:
        frame = data.billing[name]
        entity = source_entities.BY_TABLE[f"billing__{name}"]
        assert list(frame.columns) == entity.column_names, name
        assert len(frame) > 0, name
        key = source_entities.BY_TABLE[f"billing__{name}"].key
        assert frame[key].is_unique, name
        assert frame["updated_at"].dtype == "datetime64[s]", name
        pd.testing.assert_frame_equal(a.billing[name], b.billing[name])
    other = generate(GeneratorConfig(seed=4, customers=400, start=START, days=45))
    assert not other.billing["contracts"].equals(a.billing["contracts"])


def test_invoice_lines_sum_to_their_invoice(world):
    data, _ = world
    inv = _clean_invoices(data)
    lines = data.billing["invoice_lines"]
    sums = lines.groupby("invoice_id")["amount"].sum()
    assert set(inv["invoice_id"]) <= set(sums.index)  # every invoice has lines
    assert np.allclose(sums.loc[inv["invoice_id"]].to_numpy(), inv["amount"].to_numpy(),
                       atol=0.005, rtol=0)
    # lines travel with their invoice (same updated_at, so the same drop)
    changed = inv.set_index("invoice_id")["updated_at"]
    own = lines[lines["invoice_id"].isin(changed.index)]
    assert (own["updated_at"].to_numpy() == changed.loc[own["invoice_id"]].to_numpy()).all()
    # line numbers run 1..k per invoice
    k = lines.groupby("invoice_id")["line_no"].agg(["min", "max", "count"])
    assert (k["min"] == 1).all() and (k["max"] == k["count"]).all()
    # lines bill the order's lines: same quantities as sales
    qty = pd.to_numeric(lines["quantity"], errors="coerce")
    order_qty = data.sales["order_lines"].groupby("order_id")["quantity"].sum()
    billed = qty.groupby(lines["invoice_id"].str.slice(4).astype(int)).sum()
    complete = qty.notna().groupby(lines["invoice_id"]).all()
    ok = complete[complete].index.str.slice(4).astype(int)
    assert (billed.loc[ok] == order_qty.loc[ok]).all()
    net = (lines["unit_price"] * qty)[qty.notna()]
    assert np.allclose(net, lines["amount"][qty.notna()], atol=0.05)


def test_contract_customers_get_contracts_and_renewals_follow_churn(world):
    data, pop = world
    con = data.billing["contracts"]
    end = pop.end
    recurring = con[con["contract_type"] != "one_off"].copy()
    cust = recurring["contract_id"].str.slice(3, 10).astype(int)
    want = set(pop.ids[pop.is_org | (pop.ids % 7 == 0)])
    assert set(cust[recurring["contract_id"].str.endswith("-1")]) == want
    assert set(cust) == want
    # the account is the customer's billing account
    assert (recurring["account_id"].to_numpy() == pop.account_ids[cust.to_numpy() - 1]).all()
    dropout = pop.dropout_at[cust.to_numpy() - 1]
    term_end = (recurring["end_date"].to_numpy() + DAY).astype("datetime64[s]")
    status = recurring["status"].to_numpy()
    churned = dropout < term_end
    assert (churned[np.isin(status, ["cancelled", "expired"])]).all()
    assert (~churned[status == "renewed"]).all()
    assert {"renewed", "cancelled", "expired", "active"} <= set(status)
    # a term that ended inside the window was renewed, cancelled or has expired
    assert (term_end[status == "active"] >= end - DAY).all()
    # renewals point at the renewed contract, numbered on
    renewals = recurring[recurring["renewal_of"].notna()]
    assert len(renewals) > 0
    old = recurring.set_index("contract_id").loc[renewals["renewal_of"]]
    assert (old["status"] == "renewed").all()
    assert (renewals["start_date"].to_numpy() == (old["end_date"].to_numpy() + DAY)).all()
    assert (renewals["contract_id"].str.rsplit("-", n=1).str[1].astype(int)
            == old.index.str.rsplit("-", n=1).str[1].astype(int) + 1).all()
    # cancelled ones carry cancelled_at near the true dropout
    cancelled = recurring[recurring["status"] == "cancelled"]
    assert cancelled["cancelled_at"].notna().all()
    assert recurring.loc[recurring["status"] != "cancelled", "cancelled_at"].isna().all()
    lag = cancelled["cancelled_at"].to_numpy() - dropout[status == "cancelled"]
    assert (lag <= np.timedelta64(15, "D")).all()
    # nothing the source knows lies after the window; terms are 12 months, most auto-renew
    assert (con["updated_at"] < end).all()
    days = (recurring["end_date"] - recurring["start_date"]).dt.days
    assert days.between(364, 365).all()
    assert 0.7 < recurring["auto_renew"].mean() < 0.9
    # a few one-off contracts for customers without one
    one_off = con[con["contract_type"] == "one_off"]
    assert 0 < len(one_off) and not set(one_off["contract_id"].str.slice(3, 10).astype(int)) & want


def test_every_write_off_has_a_credit_note_and_notes_stay_within_the_invoice(world):
    data, _ = world
    inv = _clean_invoices(data)
    notes = data.billing["credit_notes"]
    written_off = set(inv.loc[inv["status"] == "written_off", "invoice_id"])
    assert written_off
    wo = notes[notes["reason"] == "write_off"]
    assert written_off <= set(wo["invoice_id"])
    amounts = inv.set_index("invoice_id")["amount"]
    known = notes[notes["invoice_id"].isin(amounts.index) & (notes["amount"] >= 0)]
    assert (known["amount"].to_numpy() <= amounts.loc[known["invoice_id"]].to_numpy() + 1e-9).all()
    full = wo[wo["invoice_id"].isin(amounts.index)]
    assert np.allclose(full["amount"].abs(), amounts.loc[full["invoice_id"]])
    reasons = set(notes["reason"])
    assert reasons == {"return", "price_adjustment", "goodwill", "write_off"}
    other = notes[notes["reason"] != "write_off"]
    assert 0.01 < other["invoice_id"].nunique() / len(inv) < 0.08


def test_credit_lines_for_most_contract_customers_and_late_payers_get_less(world):
    data, pop = world
    lines = data.billing["credit_lines"]
    cc = pop.is_org | (pop.ids % 7 == 0)
    with_line = np.isin(pop.account_ids, lines["account_id"].unique())
    share = with_line[cc].mean()
    assert 0.9 < share < 0.99
    assert not with_line[~cc].any()
    assert set(lines["line_type"]) == {"annual", "temporary"}
    assert set(pd.to_numeric(lines["term_days"]).dropna()) <= {30, 45, 60}
    # temporary lines: short, above the customer's annual limit
    tmp = lines[lines["line_type"] == "temporary"]
    assert ((tmp["valid_to"] - tmp["valid_from"]).dt.days <= 60).all()
    annual = lines[lines["line_type"] == "annual"].groupby("account_id")["credit_limit"].min()
    assert (tmp["credit_limit"].to_numpy() > annual.loc[tmp["account_id"]].to_numpy()).all()
    # late payers' limits are lower relative to what they are billed
    inv = _clean_invoices(data)
    billed = inv.groupby("account_id")["amount"].sum()
    ratio = annual / billed.reindex(annual.index)
    late = pd.Series(pop.late_payer, index=pop.account_ids).loc[annual.index]
    ratio = ratio[np.isfinite(ratio)]
    assert ratio[late.loc[ratio.index]].median() < 0.6 * ratio[~late.loc[ratio.index]].median()
    # an annual line covers its contract's term
    con = data.billing["contracts"].set_index("contract_id")
    ann = lines[lines["line_type"] == "annual"]
    ct = ann["credit_line_id"].str.replace("CL-", "CT-", regex=False)
    assert (ann["valid_from"].to_numpy() == con.loc[ct, "start_date"].to_numpy()).all()


def test_dirt_in_credit_notes_and_missing_required_values():
    data, _ = _generate(GeneratorConfig(seed=9, customers=1500, start=START, days=90,
                                        dirt_rate=0.05))
    notes = data.billing["credit_notes"]
    assert (notes["amount"] < 0).any()
    known = set(data.billing["invoices"]["invoice_id"])
    assert (~notes["invoice_id"].isin(known)).any()
    assert notes["account_id"].isna().any()
    assert data.billing["invoice_lines"]["quantity"].isna().any()
    assert data.billing["credit_lines"]["term_days"].isna().any()
    clean, _ = _generate(GeneratorConfig(seed=9, customers=300, start=START, days=60,
                                         dirt_rate=0.0))
    assert (clean.billing["credit_notes"]["amount"] >= 0).all()
    assert not clean.billing["invoice_lines"]["quantity"].isna().any()


# --- drops: late files, re-deliveries, malformed lines, a new column ----------------


def _delivered(folder, until: date):
    """Every distinct (name, sha256) file delivered up to ``until``: (entity, fmt, body)."""
    out = {}
    for drop in sorted(p for p in folder.iterdir() if p.is_dir()):
        if date.fromisoformat(drop.name) > until:
            continue
        manifest = json.loads((drop / billing_drops.MANIFEST).read_text())
        for item in manifest["files"]:
            body = (drop / item["name"]).read_bytes()
            assert hashlib.sha256(body).hexdigest() == item["sha256"], item["name"]
            out.setdefault((item["name"], item["sha256"]),
                           (item["entity"], item["format"], body, item["rows"], drop.name))
    return out


def test_drops_have_manifests_late_files_redeliveries_and_file_dirt(tmp_path, generated):
    folder = tmp_path / "billing"
    drift = billing_drops.Drift(starts=START + timedelta(days=20))
    counts = billing_drops.write(folder, generated.billing, START, DAYS, SEED, 0.05, 0.03,
                                 malformed_rate=0.01, drift=drift)
    assert set(NEW) <= set(counts) and all(counts[e] > 0 for e in NEW)
    assert {billing_drops.FORMATS[e] for e in NEW} == {"csv", "jsonl"}
    names, late, malformed, drift_files = [], 0, 0, set()
    for drop in sorted(folder.iterdir()):
        manifest = json.loads((drop / billing_drops.MANIFEST).read_text())
        for item in manifest["files"]:
            body = (drop / item["name"]).read_bytes()
            assert hashlib.sha256(body).hexdigest() == item["sha256"]
            names.append(item["name"])
            stamp = re.search(r"_(\d{8})\.", item["name"]).group(1)
            business = date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))
            late += business < date.fromisoformat(drop.name)
            text = body.decode()
            if item["format"] == "csv" and text:
                rows = list(csv.reader(io.StringIO(text)))
                assert len(rows) - 1 == item["rows"]
                malformed += sum(len(r) != len(rows[0]) for r in rows[1:])
                if "po_number" in rows[0]:
                    drift_files.add(item["entity"])
                    assert business >= drift.starts
                elif item["entity"] == drift.entity:
                    assert business < drift.starts
    assert len(names) > len(set(names))  # re-deliveries
    assert late > 0
    assert malformed > 0
    assert drift_files == {"invoice_lines"}
    # defaults: the drift date comes from the seed, inside the window
    assert START < billing_drops.drift_start(START, DAYS, SEED) < START + timedelta(days=DAYS)
    # clean files on request: no malformed line, no extra column
    clean = tmp_path / "clean"
    billing_drops.write(clean, generated.billing, START, DAYS, SEED, 0.05, 0.03,
                        malformed_rate=0, drift=None)
    for (_name, _sha), (_entity, fmt, body, _rows, _drop) in _delivered(
            clean, START + timedelta(days=DAYS)).items():
        if fmt == "csv" and body:
            rows = list(csv.reader(io.StringIO(body.decode())))
            assert all(len(r) == len(rows[0]) for r in rows) and "po_number" not in rows[0]


@pytest.fixture()
def scratch(cfg, generated, monkeypatch, request, tmp_path):
    """A fresh warehouse database and a billing drop folder with file dirt, for one test."""
    name = "t_" + request.node.name.lower()[:40]
    dsn = fresh_database(cfg, name)
    monkeypatch.setenv("CRM_WAREHOUSE_DSN", dsn)
    folder = tmp_path / "billing"
    drift = billing_drops.Drift(starts=START + timedelta(days=25))
    billing_drops.write(folder, generated.billing, START, DAYS, SEED, 0.05, 0.03,
                        malformed_rate=0.01, drift=drift)
    monkeypatch.setenv("CRM_BILLING_DIR", str(folder))
    yield dsn, folder, drift
    drop_database(cfg, name)


def test_malformed_lines_are_quarantined_and_the_new_column_lands_in_extra(scratch):
    dsn, folder, drift = scratch
    day = START + timedelta(days=DAYS - 1)
    batches = pipeline.extract_and_land("billing", day, "t")
    pipeline.quality_gate(batches, "t")  # the suites pass on the real files
    files = _delivered(folder, day)
    by_entity = {b["entity"]: b for b in batches}
    with database.connect(dsn) as c:
        for entity, b in by_entity.items():
            mine = [v for v in files.values() if v[0] == entity]
            # every delivered line is extracted once, and lands or is quarantined
            assert b["rows_extracted"] == sum(v[3] for v in mine), entity
            assert b["rows_extracted"] == (b["rows_loaded"] + b["rows_unchanged"]
                                           + b["rows_quarantined"]), b
            raw = c.execute(f"select count(*) from raw.billing__{entity} where _batch_id = %s",
                            (b["batch_id"],)).fetchone()[0]
            assert raw == b["rows_loaded"]
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
    """A drop folder with a manifest; files: name -> (entity, format, body)."""
    target = folder / day
    target.mkdir(parents=True)
    items = []
    for name, (entity, fmt, body) in files.items():
        (target / name).write_bytes(body)
        items.append({"name": name, "entity": entity, "format": fmt, "rows": 0,
                      "sha256": hashlib.sha256(body).hexdigest()})
    (target / billing_drops.MANIFEST).write_text(json.dumps({"drop_date": day, "files": items}))


@pytest.fixture()
def handmade(cfg, monkeypatch, request, tmp_path):
    name = "t_" + request.node.name.lower()[:40]
    dsn = fresh_database(cfg, name)
    monkeypatch.setenv("CRM_WAREHOUSE_DSN", dsn)
    monkeypatch.setenv("CRM_BILLING_DIR", str(tmp_path / "billing"))
    yield dsn, tmp_path / "billing"
    drop_database(cfg, name)


def test_quoted_csv_and_odd_json_lines_are_landed_or_quarantined(handmade):
    dsn, folder = handmade
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


def test_a_later_drop_lands_only_new_versions(handmade):
    dsn, folder = handmade
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


def test_plain_csv_is_typed_by_copy_and_only_failing_lines_take_the_text_path(handmade):
    """Plain CSV goes straight into typed columns; a line COPY cannot type is checked
    as text and quarantined with its reasons and delivered values, and every other line
    lands with its file as source. Unknown fields end up in ``_extra``."""
    dsn, folder = handmade
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
