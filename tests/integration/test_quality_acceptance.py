"""Acceptance: each kind of bad input, injected into private copies of the sources,
goes through the real pipeline steps (extract + land, Great Expectations gate) on a private
warehouse, and shows its severity, the run's outcome, the quarantined rows with reasons and
reconciled counts; after the fix the rerun lands everything and nothing is lost.

Timeline (the generated data ends on 2026-03-01):
  02-26 first (bulk) load                                   -> passes
  02-27 an order of an unknown customer; an invoice without its id
        -> orphan: warning, the order parks, run goes on; null key: row-level quarantine
  02-28 an invoice id twice in one drop                     -> blocking, batch rejected;
        fixed drop                                          -> lands, nothing lost
  03-01 normal day (third day of volume history)
  03-02 2 orders where ~40 a day came                       -> volume drop: blocking;
        quarantine release after review                     -> re-landed, reconciled
  03-06 no billing drop for days                            -> stale source: blocking;
        the drop arrives without the amount column          -> missing column: blocking;
        the fixed drop                                      -> lands, gate passes
Marts staying unchanged after a blocked run is shown with dbt in
tests/integration/test_wap.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from crmwh import pipeline
from crmwh.errors import CrmwhError, QualityGateFailed
from crmwh.quality import load_suite_json, release
from tests.support.databases import drop_database, fresh_database

D0, D1, D2, D3, D4, D5 = (date(2026, 2, 26), date(2026, 2, 27), date(2026, 2, 28),
                          date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 6))
ORPHAN_CUSTOMER = 99_999_999


class Env:
    def __init__(self, dsn: str, sales_dsn: str, billing) -> None:
        self.dsn, self.sales_dsn, self.billing = dsn, sales_dsn, billing

    def run(self, source: str, day: date) -> tuple[list[dict], list[dict]]:
        run_id = f"acc-{source}-{day}-{datetime.now(UTC):%H%M%S%f}"
        batches = pipeline.extract_and_land(source, day, run_id)
        for b in batches:  # landing always reconciles
            assert b["rows_extracted"] == (b["rows_loaded"] + b["rows_unchanged"]
                                           + b["rows_quarantined"]), b
        return batches, pipeline.quality_gate(batches, run_id)

    def rows(self, query: str, params: tuple = ()) -> list[dict]:
        with psycopg.connect(self.dsn, row_factory=dict_row) as c:
            return c.execute(query, params).fetchall()

    def dq(self, batch_id: str, check_prefix: str) -> dict:
        found = self.rows("select * from audit.dq_results where batch_id = %s "
                          "and check_name like %s", (batch_id, check_prefix + "%"))
        assert len(found) >= 1, (batch_id, check_prefix)
        return found[0]

    def orders(self, day: date, n: int, first_id: int, customer_id: int | None = None) -> None:
        with psycopg.connect(self.sales_dsn, autocommit=True) as c:
            customers = [r[0] for r in c.execute(
                "select customer_id from customers where deleted_at is null order by 1 limit 50")]
            for i in range(n):
                at = datetime(day.year, day.month, day.day, 8, tzinfo=UTC) + timedelta(minutes=i)
                c.execute(
                    """insert into orders (order_id, customer_id, sales_rep_id, ordered_at,
                           channel, promotion_code, status, updated_at)
                       values (%s, %s, null, %s, 'web', null, 'placed', %s)""",
                    (first_id + i, customer_id or customers[i % len(customers)], at, at))

    def drop(self, day: date, files: dict[str, tuple[str, str, list]]) -> None:
        """Add files to the billing drop of ``day``: name -> (entity, format, rows)."""
        folder = self.billing / day.isoformat()
        folder.mkdir(exist_ok=True)
        manifest_path = folder / "manifest.json"
        manifest = (json.loads(manifest_path.read_text()) if manifest_path.exists()
                    else {"drop_date": day.isoformat(), "files": []})
        for name, (entity, fmt, rows) in files.items():
            if fmt == "jsonl":
                body = "".join(json.dumps(r) + "\n" for r in rows)
            else:
                body = "".join(",".join(map(str, r)) + "\n" for r in rows)
            (folder / name).write_text(body)
            records = len(rows) - (fmt == "csv")  # a CSV's first row is its header
            item = {"name": name, "entity": entity, "format": fmt, "rows": records,
                    "sha256": hashlib.sha256(body.encode()).hexdigest()}
            manifest["files"] = [f for f in manifest["files"] if f["name"] != name] + [item]
        manifest_path.write_text(json.dumps(manifest))


# the billing account of the test's invoices, delivered with the first of them
ACCOUNT = {"account_id": "BA-ACCEPT", "account_name": "Acceptance", "email": None,
           "phone": None, "tax_id": None, "created_at": f"{D1}T09:00:00Z",
           "updated_at": f"{D1}T09:00:00Z"}


def invoice(invoice_id: str, day: date, amount: float = 120.0, **over) -> dict:
    row = {"invoice_id": invoice_id, "account_id": "BA-ACCEPT", "invoice_date": day.isoformat(),
           "due_date": (day + timedelta(days=30)).isoformat(), "amount": amount,
           "currency": "CNY", "status": "open", "updated_at": f"{day}T10:00:00Z"}
    row.update(over)
    return row


@pytest.fixture(scope="module")
def env(cfg, generated, tmp_path_factory):
    billing = tmp_path_factory.mktemp("billing") / "billing"
    shutil.copytree(cfg.billing_dir, billing,
                    ignore=lambda d, names: [n for n in names if n[:10] > "2026-03-01"])
    sales_dsn = fresh_database(cfg, "crm_acc_sales", template="crm_sales", warehouse=False)
    dsn = fresh_database(cfg, "crm_acc")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_WAREHOUSE_DSN", dsn)
        mp.setenv("CRM_SALES_DSN", sales_dsn)
        mp.setenv("CRM_BILLING_DIR", str(billing))
        yield Env(dsn, sales_dsn, billing)
    drop_database(cfg, "crm_acc")
    drop_database(cfg, "crm_acc_sales")


def test_first_load_passes(env):
    for source in ("sales", "billing"):
        batches, passed = env.run(source, D0)
        assert len(passed) == len(batches)


def test_orphan_is_a_warning_and_null_key_is_row_level(env):
    env.orders(D1, 40, 8_000_000)
    env.orders(D1, 1, 8_100_000, customer_id=ORPHAN_CUSTOMER)
    batches, passed = env.run("sales", D1)  # the run goes on
    orders = next(b for b in batches if b["entity"] == "orders")
    warning = env.dq(orders["batch_id"], "references(customer_id")
    assert (warning["severity"], warning["status"]) == ("warning", "fail")
    assert str(ORPHAN_CUSTOMER) in warning["observed"] and "1 orphans" in warning["observed"]
    # a late parent is normal: the order waits for its customer, the other 40 land
    assert env.rows("select count(*) n from raw.sales__orders where customer_id = %s",
                    (ORPHAN_CUSTOMER,))[0]["n"] == 0
    parked = env.rows("select reason from quarantine.parked where batch_id = %s",
                      (orders["batch_id"],))
    assert [p["reason"] for p in parked] == [
        "waiting for parent: customer_id not in raw.sales__customers yet"]
    assert env.rows("select rows_parked from audit.load_batches where batch_id = %s",
                    (orders["batch_id"],))[0]["rows_parked"] == 1

    env.drop(D1, {"accounts_accept_d1.jsonl": ("accounts", "jsonl", [ACCOUNT]),
                  "invoices_accept_d1.jsonl": ("invoices", "jsonl", [
                      invoice("INV-ACC-D1-1", D1), invoice("", D1, amount=77.0)])})
    batches, passed = env.run("billing", D1)  # the run goes on
    invoices = next(b for b in batches if b["entity"] == "invoices")
    quarantined = env.rows("select reason, payload from quarantine.rows where batch_id = %s "
                           "and payload->>'amount' = '77.0'", (invoices["batch_id"],))
    assert [q["reason"] for q in quarantined] == ["missing invoice_id"]
    assert invoices["rows_quarantined"] >= 1
    assert env.rows("select status from audit.load_batches where batch_id = %s",
                    (invoices["batch_id"],))[0]["status"] == "loaded"
    key = env.dq(invoices["batch_id"], "expect_column_values_to_not_be_null(invoice_id)")
    assert key["status"] == "pass"  # the gate sees only rows that could land


def test_duplicate_ids_block_and_the_fixed_drop_loses_nothing(env):
    env.orders(D2, 40, 8_200_000)
    env.run("sales", D2)
    env.drop(D2, {"invoices_accept_d2.jsonl": ("invoices", "jsonl", [
        invoice("INV-ACC-DUP", D2, 100.0), invoice("INV-ACC-DUP", D2, 150.0),
        invoice("INV-ACC-D2-OK", D2)])})
    expected_ids = {json.loads(line)["invoice_id"] for f in (env.billing / str(D2)).glob(
        "invoices*.jsonl") for line in f.read_text().splitlines() if line.strip()}
    with pytest.raises(QualityGateFailed, match=r"be_unique\(invoice_id\)") as failed:
        env.run("billing", D2)
    assert "raw.billing__invoices" in str(failed.value)
    batch = env.rows("select * from audit.load_batches where entity = 'invoices' "
                     "order by started_at desc limit 1")[0]
    assert batch["status"] == "rejected" and batch["rows_loaded"] == 0
    moved = env.rows("select reason from quarantine.rows where batch_id = %s",
                     (batch["batch_id"],))
    assert len(moved) == batch["rows_quarantined"] > 0  # every row accounted for
    assert all(m["reason"].startswith("quality gate:") and "be_unique(invoice_id)" in m["reason"]
               for m in moved)
    check = env.dq(batch["batch_id"], "expect_column_values_to_be_unique(invoice_id)")
    assert (check["severity"], check["status"]) == ("blocking", "fail")
    assert env.rows("select count(*) n from raw.billing__invoices where _batch_id = %s",
                    (batch["batch_id"],))[0]["n"] == 0

    # the fix: billing re-delivers the drop without the duplicate
    env.drop(D2, {"invoices_accept_d2.jsonl": ("invoices", "jsonl", [
        invoice("INV-ACC-DUP", D2, 150.0), invoice("INV-ACC-D2-OK", D2)])})
    env.run("billing", D2)
    landed = {r["invoice_id"] for r in env.rows(
        "select invoice_id from raw.billing__invoices where invoice_id = any(%s)",
        (list(expected_ids),))}
    assert landed == expected_ids  # nothing lost


def test_volume_drop_blocks_and_release_relands_reconciled(env):
    env.orders(D3, 40, 8_300_000)
    env.run("sales", D3)
    env.orders(D4, 2, 8_400_000)  # ~40 a day came before: a sudden drop
    with pytest.raises(QualityGateFailed, match=r"volume\(rows_for_date\)"):
        env.run("sales", D4)
    batch = env.rows("select * from audit.load_batches where entity = 'orders' "
                     "and batch_id not like 'release__%%' order by started_at desc limit 1")[0]
    assert batch["status"] == "rejected"
    volume = env.dq(batch["batch_id"], "volume(rows_for_date)")
    assert (volume["severity"], volume["status"]) == ("blocking", "fail")
    assert volume["observed"] == "rows_for_date 2"
    assert "min_value=" in volume["expected"] and "median" in volume["expected"]
    assert len(env.rows("select 1 from quarantine.rows where batch_id = %s",
                        (batch["batch_id"],))) == 2

    # reviewed: the drop was real. Release the rows through the normal landing checks.
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        done = release.release(conn, batch["batch_id"], "volume")
        with pytest.raises(CrmwhError, match="no quarantined rows"):
            release.release(conn, batch["batch_id"])  # released once only
    assert done.reconciles
    assert (done.rows_selected, done.rows_loaded, done.rows_quarantined) == (2, 2, 0)
    assert done.gate == "passed"
    assert env.rows("select count(*) n from raw.sales__orders where order_id between "
                    "8400000 and 8400001")[0]["n"] == 2
    # the next night reads the same rows again (the watermark did not move): nothing twice
    batches, _ = env.run("sales", D4)
    orders = next(b for b in batches if b["entity"] == "orders")
    assert orders["rows_loaded"] == 0
    assert orders["rows_unchanged"] >= 2  # the two released orders (and the look-back window)


def test_stale_source_and_missing_column_block_until_fixed(env):
    with pytest.raises(QualityGateFailed, match=r"freshness\(newest_updated_at\)"):
        env.run("billing", D5)  # nothing new since 03-01
    stale = env.rows("select * from audit.dq_results where check_name like 'freshness%%' "
                     "and entity = 'invoices' and status = 'fail'")
    assert stale and stale[-1]["severity"] == "blocking"
    suite = load_suite_json("billing__invoices")  # the allowed age, read, never copied
    max_age = next(e["meta"]["max_age_hours"] for e in suite["profile_expectations"]
                   if e["meta"]["check"] == "freshness")
    oldest = datetime(D5.year, D5.month, D5.day) + timedelta(days=1, hours=-max_age)
    assert f"{oldest:%Y-%m-%d %H:%M:%S}" in stale[-1]["expected"]  # before the end of 03-06

    fresh = [invoice("INV-ACC-D5", D5)]
    lines = [["invoice_line_id", "invoice_id", "line_no", "sku", "quantity", "unit_price",
              "amount", "updated_at"],
             ["INV-ACC-D5-01", "INV-ACC-D5", 1, "SKU-00001", 1, 120, 120, f"{D5}T10:00:00Z"]]
    payments = [["payment_id", "invoice_id", "account_id", "paid_at", "amount", "method",
                 "updated_at"],
                ["PAY-ACC-D5", "INV-ACC-D5", "BA-ACCEPT", f"{D5}T11:00:00Z", 120, "card",
                 f"{D5}T11:00:00Z"]]
    broken = [{k: v for k, v in r.items() if k != "amount"} for r in fresh]
    env.drop(D5, {"invoices_20260306.jsonl": ("invoices", "jsonl", broken),
                  "invoice_lines_20260306.csv": ("invoice_lines", "csv", lines),
                  "payments_20260306.csv": ("payments", "csv", payments)})
    with pytest.raises(CrmwhError, match="without required column"):
        env.run("billing", D5)
    assert env.rows("select count(*) n from raw.billing__invoices "
                    "where invoice_id = 'INV-ACC-D5'")[0]["n"] == 0

    env.drop(D5, {"invoices_20260306.jsonl": ("invoices", "jsonl", fresh)})
    batches, passed = env.run("billing", D5)
    # every batch passed: this run's, and those the failed run landed but never gated
    gated = {p["batch_id"] for p in passed}
    assert {b["batch_id"] for b in batches} < gated
    assert env.rows("select count(*) n from audit.load_batches where gate_state = 'pending'"
                    )[0]["n"] == 0
    assert env.rows("select count(*) n from raw.billing__invoices "
                    "where invoice_id = 'INV-ACC-D5'")[0]["n"] == 1
    assert env.rows("select count(*) n from raw.billing__payments "
                    "where payment_id = 'PAY-ACC-D5'")[0]["n"] == 1
