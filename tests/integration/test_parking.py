"""Early-arriving facts through the real landing and gate (no DAG) on a private warehouse:
contracts arrive before their billing accounts, park, release when the accounts land, or
expire into quarantine; a batch mostly of orphans is rejected whole. Every extracted row
ends in exactly one place, and every batch reconciles.

Nights (billing; accounts are gated before contracts, their declared order):
  D0  60 accounts, 60 contracts on them                    -> first load, nothing parked
  D1  60 contracts, 12 on accounts not delivered yet (20 %) -> 48 land, 12 park;
      the same delivery read again (rerun)                 -> nothing parked twice
  D2  10 of the 12 accounts arrive                         -> 10 contracts released;
      the same night again                                 -> nothing released twice
  D3  nothing new                                          -> the 2 still wait
  D4  nothing new (3 nights after D1)                      -> the 2 quarantined
  D5  60 contracts, 40 on unknown accounts (67 %)          -> batch rejected whole
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from crmwh import pipeline
from crmwh.errors import QualityGateFailed
from crmwh.extract.base import Extraction, JsonPart
from crmwh.load.batches import new_batch_id
from crmwh.load.landing import land
from crmwh.source_entities import BY_TABLE
from tests.support.cli import assert_one_clear_line, crmwh
from tests.support.databases import drop_database, fresh_database

ACCOUNTS, CONTRACTS = BY_TABLE["billing__accounts"], BY_TABLE["billing__contracts"]
D0, D1, D2, D3, D4, D5 = (date(2026, 3, 1) + timedelta(days=i) for i in range(6))
LATE = [f"BA-LATE-{i:02d}" for i in range(12)]


def account(account_id: str, day: date) -> dict:
    return {"account_id": account_id, "account_name": f"Account {account_id}",
            "email": None, "phone": None, "tax_id": None,
            "created_at": f"{day}T08:00:00Z", "updated_at": f"{day}T08:00:00Z"}


def contract(contract_id: str, account_id: str, day: date) -> dict:
    return {"contract_id": contract_id, "account_id": account_id,
            "contract_type": "subscription", "start_date": str(day), "end_date": None,
            "auto_renew": True, "status": "active", "amount": 100.0,
            "contracted_quantity": 1, "renewal_of": None, "cancelled_at": None,
            "updated_at": f"{day}T09:00:00Z"}


class Warehouse:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.extracted: set[str] = set()  # every contract id delivered

    def night(self, day: date, accounts: list[dict], contracts: list[dict]
              ) -> tuple[list[dict], list[dict]]:
        """Land the night's two batches as the loader does, then run the gate on them."""
        run_id = f"park-{day}-{datetime.now(UTC):%H%M%S%f}"
        batches = []
        self.extracted |= {c["contract_id"] for c in contracts}
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for entity, rows in ((ACCOUNTS, accounts), (CONTRACTS, contracts)):
                body = "".join(json.dumps(r) + "\n" for r in rows).encode()
                parts = [JsonPart(ref=f"{entity.name}_{day}.jsonl", body=body)] if rows else []
                result = land(conn, entity, Extraction(json=parts),
                              batch_id=new_batch_id(entity, day), run_id=run_id,
                              as_of_date=day, watermark_before=None)
                batches.append({k: v for k, v in vars(result).items()})
        return batches, pipeline.quality_gate(batches, run_id)

    def rows(self, query: str, params: tuple = ()) -> list[dict]:
        with psycopg.connect(self.dsn, row_factory=dict_row) as c:
            return c.execute(query, params).fetchall()

    def batch(self, batch_id: str) -> dict:
        return self.rows("select * from audit.load_batches where batch_id = %s", (batch_id,))[0]

    def parked(self) -> set[str]:
        return {r["id"] for r in self.rows(
            "select payload->>'contract_id' id from quarantine.parked "
            "where entity = 'contracts' and settled_at is null")}

    def in_raw(self) -> set[str]:
        return {r["contract_id"] for r in self.rows(
            "select distinct contract_id from raw.billing__contracts")}

    def quarantined(self) -> set[str]:
        return {r["id"] for r in self.rows(
            "select payload->>'contract_id' id from quarantine.rows "
            "where entity = 'contracts' and released_at is null")}

    def assert_every_row_in_one_place(self) -> None:
        raw, parked, quarantined = self.in_raw(), self.parked(), self.quarantined()
        assert not (raw & parked) and not (raw & quarantined) and not (parked & quarantined)
        assert raw | parked | quarantined == self.extracted

    def assert_batches_reconcile(self) -> None:
        for b in self.rows("select * from audit.load_batches"):
            assert b["rows_extracted"] == (b["rows_loaded"] + b["rows_unchanged"]
                                           + b["rows_parked"] + b["rows_quarantined"]), b


@pytest.fixture(scope="module")
def wh(cfg):
    dsn = fresh_database(cfg, "crm_parking")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_WAREHOUSE_DSN", dsn)
        mp.delenv("CRM_PARK_DAYS", raising=False)  # the default wait: 3 nights
        mp.delenv("CRM_ORPHAN_REJECT_SHARE", raising=False)  # the default share: 0.5
        yield Warehouse(dsn)
    drop_database(cfg, "crm_parking")


def test_first_load_parks_nothing(wh):
    known = [account(f"BA-{i:03d}", D0) for i in range(60)]
    batches, passed = wh.night(D0, known, [contract(f"CT-0-{i}", f"BA-{i:03d}", D0)
                                           for i in range(60)])
    assert len(passed) == 2 and all(p["rows_parked"] == 0 for p in passed)
    assert wh.parked() == set()
    wh.assert_every_row_in_one_place()


def test_orphans_park_and_the_rest_of_the_batch_lands(wh):
    day1 = ([contract(f"CT-1-{i}", f"BA-{i:03d}", D1) for i in range(48)]
            + [contract(f"CT-1-L{i}", LATE[i], D1) for i in range(12)])
    batches, passed = wh.night(D1, [], day1)  # 20 % orphans: the night goes on
    contracts = wh.batch(batches[1]["batch_id"])
    assert (contracts["status"], contracts["rows_extracted"], contracts["rows_loaded"],
            contracts["rows_parked"]) == ("loaded", 60, 48, 12)
    assert wh.parked() == {f"CT-1-L{i}" for i in range(12)}
    reasons = wh.rows("select reason, count(*) n from quarantine.parked group by 1")
    assert reasons == [{"reason": "waiting for parent: account_id not in "
                                  "raw.billing__accounts yet", "n": 12}]
    check = wh.rows("select * from audit.dq_results where batch_id = %s "
                    "and check_name like 'parked:%%'", (contracts["batch_id"],))
    assert [(c["severity"], c["observed"]) for c in check] == [("row-level", "12 rows parked")]
    blocking = wh.rows("select status from audit.dq_results where batch_id = %s and "
                       "severity = 'blocking' and check_name like 'references%%'",
                       (contracts["batch_id"],))
    assert [b["status"] for b in blocking] == ["pass"]  # 20 % is under the 0.5 share
    wh.assert_every_row_in_one_place()

    # the same delivery read again (a rerun): the orphans count unchanged, parked once
    batches, _ = wh.night(D1, [], day1)
    again = wh.batch(batches[1]["batch_id"])
    assert (again["rows_loaded"], again["rows_unchanged"], again["rows_parked"]) == (0, 60, 0)
    assert wh.rows("select count(*) n from quarantine.parked")[0]["n"] == 12
    wh.assert_every_row_in_one_place()
    wh.assert_batches_reconcile()


def test_crmwh_quarantine_parked_shows_the_waiting_rows(wh):
    done = crmwh("quarantine", "parked", CRM_WAREHOUSE_DSN=wh.dsn)
    assert done.returncode == 0, done.stderr
    assert "12 rows parked" in done.stdout and "CRM_PARK_DAYS=3" in done.stdout
    line = next(t for t in done.stdout.splitlines() if t.startswith("billing__contracts"))
    assert "account_id not in raw.billing__accounts yet" in line
    assert re.split(r"\s{2,}", line.strip())[2:] == ["12", str(D1), str(D1)]
    missing = crmwh("quarantine", "release", CRM_WAREHOUSE_DSN=wh.dsn)
    assert_one_clear_line(missing, "--batch")


def test_the_late_parent_releases_its_children_once(wh):
    batches, passed = wh.night(D2, [account(a, D2) for a in LATE[:10]], [])
    released = wh.rows("select * from audit.load_batches where batch_id like "
                       "'release__parked__billing__contracts__%%'")
    assert len(released) == 1
    r = released[0]
    assert (r["status"], r["as_of_date"], r["rows_extracted"], r["rows_loaded"],
            r["rows_quarantined"]) == ("loaded", D2, 10, 10, 0)
    assert {p["batch_id"] for p in passed} >= {r["batch_id"]}  # gated like any batch
    assert wh.rows("select count(*) n from raw.billing__contracts where _batch_id = %s",
                   (r["batch_id"],))[0]["n"] == 10
    assert wh.parked() == {"CT-1-L10", "CT-1-L11"}
    outcomes = wh.rows("select outcome, settled_batch_id, count(*) n from quarantine.parked "
                       "where settled_at is not null group by 1, 2")
    assert outcomes == [{"outcome": "released", "settled_batch_id": r["batch_id"], "n": 10}]
    wh.assert_every_row_in_one_place()

    wh.night(D2, [], [])  # the same night again: nothing to release twice
    assert len(wh.rows("select 1 from audit.load_batches where batch_id like "
                       "'release__parked__%%'")) == 1
    assert len(wh.rows("select 1 from raw.billing__contracts where contract_id like "
                       "'CT-1-L%%'")) == 10
    wh.assert_batches_reconcile()


def test_a_parent_that_never_arrives_quarantines_after_the_wait(wh):
    wh.night(D3, [], [])  # two nights after D1: still waiting
    assert wh.parked() == {"CT-1-L10", "CT-1-L11"}
    wh.night(D4, [], [])  # three nights after D1: the wait is over
    assert wh.parked() == set()
    expired = wh.rows("select batch_id, reason from quarantine.rows where entity = 'contracts'")
    assert len(expired) == 2
    assert all(e["reason"].startswith("parent never arrived after 3 days") for e in expired)
    settle = wh.batch(expired[0]["batch_id"])
    assert (settle["as_of_date"], settle["rows_extracted"], settle["rows_loaded"],
            settle["rows_quarantined"]) == (D4, 2, 0, 2)
    wh.assert_every_row_in_one_place()
    wh.assert_batches_reconcile()


def test_a_batch_mostly_of_orphans_is_rejected_whole(wh):
    broken = ([contract(f"CT-5-{i}", f"BA-{i:03d}", D5) for i in range(20)]
              + [contract(f"CT-5-X{i}", f"BA-NOWHERE-{i}", D5) for i in range(40)])
    with pytest.raises(QualityGateFailed, match=r"references\(account_id"):
        wh.night(D5, [], broken)
    batch = wh.rows("select * from audit.load_batches where entity = 'contracts' "
                    "and batch_id not like 'release__%%' order by started_at desc limit 1")[0]
    assert (batch["status"], batch["rows_loaded"], batch["rows_parked"],
            batch["rows_quarantined"]) == ("rejected", 0, 0, 60)
    reasons = {r["reason"][:13] for r in wh.rows(
        "select reason from quarantine.rows where batch_id = %s", (batch["batch_id"],))}
    assert reasons == {"quality gate:"}
    assert wh.parked() == set()
    wh.assert_every_row_in_one_place()
    wh.assert_batches_reconcile()
