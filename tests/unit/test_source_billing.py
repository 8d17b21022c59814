"""Billing's further entities: invoice lines, contracts, credit notes, credit lines.

Generator behaviour is checked against the latent population (true churn times,
late payers), and the drop folders' file-level dirt (malformed CSV lines, a new column) in
the files as written. Through the real extractor and loader into a scratch warehouse:
tests/integration/test_source_billing.py.
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

from crmwh import source_entities
from crmwh_devkit.simulators import billing_drops, gen_billing
from crmwh_devkit.simulators.generator import GeneratorConfig, generate
from tests.support.billing_files import delivered
from tests.support.demo import CONFIG, DAYS, SEED, START
from tests.support.entities import BILLING_NEW as NEW

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


def test_drops_have_manifests_late_files_redeliveries_and_file_dirt(tmp_path, demo_data):
    folder = tmp_path / "billing"
    drift = billing_drops.Drift(starts=START + timedelta(days=20))
    counts = billing_drops.write(folder, demo_data.billing, START, DAYS, SEED,
                                 CONFIG.late_file_rate, CONFIG.redelivery_rate,
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
    billing_drops.write(clean, demo_data.billing, START, DAYS, SEED, CONFIG.late_file_rate,
                        CONFIG.redelivery_rate, malformed_rate=0, drift=None)
    for (_name, _sha), (_entity, fmt, body, _rows, _drop) in delivered(
            clean, START + timedelta(days=DAYS)).items():
        if fmt == "csv" and body:
            rows = list(csv.reader(io.StringIO(body.decode())))
            assert all(len(r) == len(rows[0]) for r in rows) and "po_number" not in rows[0]
