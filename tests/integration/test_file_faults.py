"""Billing files checked against their manifest: a file short of its declared rows or not
matching its checksum is held (nothing of it consumed) and fails the gate with an alert naming
it; a declared encoding is decoded, undecodable lines are quarantined with their reason, a
byte-order mark is dropped; a re-delivery is told apart from a file loaded already."""

from __future__ import annotations

import hashlib
import logging
from datetime import date

import pytest

from crmwh import database, pipeline
from crmwh.errors import QualityGateFailed
from crmwh.quality.notify import failure_message
from tests.support.billing_files import write_drop

ACCOUNTS_HEAD = b"account_id,account_name,email,phone,tax_id,created_at,updated_at\n"
PAYMENTS_HEAD = b"payment_id,invoice_id,account_id,paid_at,amount,method,updated_at\n"
T = "2026-01-01T00:00:00Z"


def _accounts(*names: bytes) -> bytes:
    return ACCOUNTS_HEAD + b"".join(b"BA-%d,%s,,,,%s,%s\n" % (i, n, T.encode(), T.encode())
                                    for i, n in enumerate(names, start=1))


def _payments(n: int) -> bytes:
    return PAYMENTS_HEAD + b"".join(
        b"P-%d,INV-%d,BA-1,%s,10,card,%s\n" % (i, i, T.encode(), T.encode())
        for i in range(1, n + 1))


def _gate_fails(batches: list[dict], run_id: str) -> QualityGateFailed:
    with pytest.raises(QualityGateFailed) as failed:
        pipeline.quality_gate(batches, run_id)
    return failed.value


def test_a_short_or_empty_file_is_held_and_fails_the_gate_with_an_alert(drops):
    dsn, folder = drops
    short = b"\n".join(_payments(10).split(b"\n")[:7]) + b"\n"  # cut cleanly after 6 rows
    write_drop(folder, "2026-01-02",
               {"payments_20260102.csv": ("payments", "csv", short),
                "contracts_20260102.csv": ("contracts", "csv", b""),
                "accounts_20260102.csv": ("accounts", "csv", _accounts(b"Ann", b"Bo"))},
               {"payments_20260102.csv": {"rows": 10}, "contracts_20260102.csv": {"rows": 3},
                "accounts_20260102.csv": {"rows": 2}})
    batches = pipeline.extract_and_land("billing", date(2026, 1, 2), "r1")
    by_entity = {b["entity"]: b for b in batches}
    assert by_entity["payments"]["rows_extracted"] == 0  # nothing of the short file consumed
    assert by_entity["contracts"]["rows_extracted"] == 0
    failure = _gate_fails(batches, "r1")
    assert "payments_20260102.csv" in str(failure) or "contracts_20260102.csv" in str(failure)
    with database.connect(dsn) as c:
        consumed = {f for (f,) in c.execute("select file_name from audit.billing_files")}
        held = dict(c.execute("select file_name, detail from audit.billing_deliveries "
                              "where outcome = 'held'"))
        failed = {(check, obj) for check, obj in c.execute(
            """select check_name, object_name from audit.dq_results
               where run_id = 'r1' and severity = 'blocking' and status = 'fail'""")}
        landed = c.execute("select count(*) from raw.billing__payments").fetchone()[0]
    assert consumed == {"accounts_20260102.csv"}  # its batch passed
    assert held == {"payments_20260102.csv": "6 records; expected 10 records as its manifest "
                                             "says",
                    "contracts_20260102.csv": "0 records; expected 3 records as its manifest "
                                              "says"}
    assert failed == {("file row count", "2026-01-02/payments_20260102.csv"),
                      ("file row count", "2026-01-02/contracts_20260102.csv")}
    assert landed == 0
    alert = failure_message("2026-01-02", "r1", "gate_billing", failure, dsn)
    assert alert.check == "file row count" and alert.object.startswith("2026-01-02/")
    assert "expected" in alert.text and "records as its manifest says" in alert.text


def test_a_checksum_mismatch_is_a_blocking_failure_on_every_run_until_fixed(drops):
    dsn, folder = drops
    write_drop(folder, "2026-01-02", {"payments_20260102.csv": ("payments", "csv", _payments(3))},
               {"payments_20260102.csv": {"sha256": hashlib.sha256(b"other").hexdigest()}})
    for run in ("r1", "r2"):
        batches = pipeline.extract_and_land("billing", date(2026, 1, 2), run)
        failure = _gate_fails(batches, run)
        assert "file checksum" in str(failure) and "payments_20260102.csv" in str(failure)
        alert = failure_message("2026-01-02", run, "gate_billing", failure, dsn)
        assert (alert.check, alert.object) == ("file checksum", "2026-01-02/payments_20260102.csv")
    # the sender re-delivers the file with a correct manifest: it loads
    (folder / "2026-01-02" / "manifest.json").unlink()
    write_drop(folder, "2026-01-03", {"payments_20260102.csv": ("payments", "csv", _payments(3))},
               {"payments_20260102.csv": {"rows": 3}})
    batches = pipeline.extract_and_land("billing", date(2026, 1, 3), "r3")
    payments = next(b for b in batches if b["entity"] == "payments")
    assert payments["rows_loaded"] == 3


def test_declared_latin1_decodes_undecodable_lines_are_quarantined_and_a_bom_is_dropped(drops):
    dsn, folder = drops
    latin = _accounts("MÜLLER".encode("latin-1"), "Bø".encode("latin-1"))
    undeclared = _accounts(b"Ann", "SCHRÖDER".encode("latin-1")).replace(b"BA-", b"BB-")
    bom = b"\xef\xbb\xbf" + _accounts("Zoë".encode()).replace(b"BA-", b"BC-")
    write_drop(folder, "2026-01-02", {"accounts_20260102a.csv": ("accounts", "csv", latin),
                                      "accounts_20260102b.csv": ("accounts", "csv", undeclared),
                                      "accounts_20260102c.csv": ("accounts", "csv", bom)},
               {"accounts_20260102a.csv": {"encoding": "latin-1", "rows": 2},
                "accounts_20260102b.csv": {"rows": 2}, "accounts_20260102c.csv": {"rows": 1}})
    batch = next(b for b in pipeline.extract_and_land("billing", date(2026, 1, 2), "r1")
                 if b["entity"] == "accounts")
    assert (batch["rows_extracted"], batch["rows_loaded"], batch["rows_quarantined"]) == (5, 4, 1)
    with database.connect(dsn) as c:
        names = dict(c.execute("select account_id, account_name from raw.billing__accounts"))
        extra = c.execute("select count(*) from raw.billing__accounts "
                          "where _extra is not null").fetchone()[0]
        reasons = c.execute("select source_ref, reason, payload->>'line' "
                            "from quarantine.rows").fetchall()
    assert names == {"BA-1": "MÜLLER", "BA-2": "Bø", "BB-1": "Ann", "BC-1": "Zoë"}
    assert extra == 0  # the BOM did not rename the key column
    assert len(reasons) == 1
    ref, reason, line = reasons[0]
    assert ref == "2026-01-02/accounts_20260102b.csv"
    assert reason.startswith("line 3 is not valid utf-8 (byte 0xd6")
    assert "declare the file's encoding" in reason and line.startswith("BB-2,SCHR\\xd6DER")


def test_a_redelivery_is_told_apart_from_a_file_loaded_already(drops, caplog):
    dsn, folder = drops
    body = _accounts(b"Ann")
    write_drop(folder, "2026-01-02", {"accounts_20260102.csv": ("accounts", "csv", body)})
    pipeline.extract_and_land("billing", date(2026, 1, 2), "r1")
    write_drop(folder, "2026-01-03", {"accounts_20260102.csv": ("accounts", "csv", body)})
    caplog.set_level(logging.INFO, logger="crmwh.pipeline")
    pipeline.extract_and_land("billing", date(2026, 1, 3), "r2")
    second = caplog.text
    caplog.clear()
    pipeline.extract_and_land("billing", date(2026, 1, 3), "r3")
    third = caplog.text
    assert "re-delivered 2026-01-03/accounts_20260102.csv: the same bytes as " \
           "2026-01-02/accounts_20260102.csv" in second
    assert "re-delivered" not in third  # known by now: passed over with the loaded files
    assert "2 files loaded by earlier runs passed over" in third
    with database.connect(dsn) as c:
        events = c.execute("select drop_date::text, file_name, outcome from "
                           "audit.billing_deliveries").fetchall()
        loaded = c.execute("select drop_date::text from audit.billing_files").fetchall()
    assert events == [("2026-01-03", "accounts_20260102.csv", "re-delivered")]
    assert loaded == [("2026-01-02",)]


def test_a_rejected_batch_and_its_fixed_rerun_hold_no_delivered_row_twice(drops):
    dsn, folder = drops
    good = _payments(3) + b"P-9,INV-9,BA-1\n"  # and one malformed line
    broken = _payments(2).replace(b"P-", b"Q-")
    write_drop(folder, "2026-01-02", {"payments_20260102a.csv": ("payments", "csv", good),
                                      "payments_20260102b.csv": ("payments", "csv", broken)},
               {"payments_20260102b.csv": {"sha256": hashlib.sha256(b"other").hexdigest()}})
    _gate_fails(pipeline.extract_and_land("billing", date(2026, 1, 2), "r1"), "r1")
    # the sender fixes the drop's manifest; the date is run again
    for f in (folder / "2026-01-02").iterdir():
        f.unlink()
    (folder / "2026-01-02").rmdir()
    write_drop(folder, "2026-01-02", {"payments_20260102a.csv": ("payments", "csv", good),
                                      "payments_20260102b.csv": ("payments", "csv", broken)})
    rerun = pipeline.extract_and_land("billing", date(2026, 1, 2), "r2")
    payments = next(b for b in rerun if b["entity"] == "payments")
    assert (payments["rows_extracted"], payments["rows_loaded"]) == (6, 5)
    with database.connect(dsn) as c:
        held = c.execute("""select source_ref, payload::text, count(*) from quarantine.rows
                            where released_at is null group by 1, 2""").fetchall()
        superseded = c.execute("""select count(*), min(released_batch_id) from quarantine.rows
                                  where released_at is not null""").fetchone()
    assert [(ref, n) for ref, _, n in held] == [("2026-01-02/payments_20260102a.csv", 1)]
    assert superseded == (4, payments["batch_id"])  # 3 rejected rows and the malformed line
