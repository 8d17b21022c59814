"""The sales system's contacts, opportunities and shipments, and its soft deletes, landed
through the real extractor into a scratch warehouse, gated, and built by dbt's staging models.
(The generated rows themselves: tests/unit/test_source_sales.py.)
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from crmwh import database, pipeline, source_entities
from crmwh.quality import gate, verdict
from crmwh_devkit.simulators import sales_db
from crmwh_devkit.simulators.generator import GeneratorConfig, generate
from tests.support import dbt_runner
from tests.support.databases import drop_database, fresh_database
from tests.support.entities import SALES_NEW as NEW


@pytest.fixture()
def scratch(cfg, monkeypatch, request):
    """A fresh warehouse database and an empty sales database for one test."""
    name = "t_" + request.node.name.lower()[:40]
    dsn = fresh_database(cfg, name)
    sales = fresh_database(cfg, name + "_sales", warehouse=False)
    monkeypatch.setenv("CRM_WAREHOUSE_DSN", dsn)
    monkeypatch.setenv("CRM_SALES_DSN", sales)
    yield dsn, sales
    drop_database(cfg, name)
    drop_database(cfg, name + "_sales")


def test_land_new_entities_reconcile_dirt_goes_where_it_should(scratch, tmp_path):
    dsn, sales_dsn = scratch
    config = GeneratorConfig(seed=5, customers=600, start=date(2026, 1, 1), days=40,
                             dirt_rate=0.02)
    data = generate(config)
    sales_db.write(sales_dsn, data.sales)
    # two nights: the middle of the window, then its last day (incremental by watermark)
    batches = []
    for day in (config.start + timedelta(days=20), config.start + timedelta(days=39)):
        batches += pipeline.extract_and_land("sales", day, f"run{day:%d}")
    for b in batches:
        assert b["rows_extracted"] == b["rows_loaded"] + b["rows_unchanged"] \
            + b["rows_quarantined"], b
    s = data.sales
    nameless = s["contacts"].loc[s["contacts"]["name"].isna(), "contact_id"]
    unknown = s["shipments"].loc[~s["shipments"]["order_id"].isin(s["orders"]["order_id"]),
                                 "shipment_id"]
    assert len(nameless) and len(unknown)
    with database.connect(dsn, autocommit=True) as c:
        def ids(sql: str) -> set[int]:
            return {int(r[0]) for r in c.execute(sql)}

        # every row is in raw or (missing name) in quarantine, nothing lost
        for entity in NEW:
            key = source_entities.BY_TABLE[f"sales__{entity}"].key
            landed = ids(f"select {key} from raw.sales__{entity}")
            held = ids(f"select (payload->>'{key}')::bigint from quarantine.rows "
                       f"where source = 'sales' and entity = '{entity}'")
            assert landed | held == set(s[entity][key]), entity
            assert not landed & held
        assert ids("select (payload->>'contact_id')::bigint from quarantine.rows "
                   "where entity = 'contacts' and reason like '%missing name%'") == set(nameless)
        # an unknown order reference is not the loader's business: it lands (dbt flags it)
        assert set(unknown) <= ids("select shipment_id from raw.sales__shipments")
        assert not ids(f"""select order_id from raw.sales__shipments
                           where shipment_id in ({','.join(map(str, unknown))})""") \
            & ids("select order_id from raw.sales__orders")
        # soft deletes arrive as deleted rows
        assert ids("select customer_id from raw.sales__customers where deleted_at is not null") \
            == set(s["customers"].loc[s["customers"]["deleted_at"].notna(), "customer_id"])
        assert ids("select order_id from raw.sales__orders where deleted_at is not null") \
            == set(s["orders"].loc[s["orders"]["deleted_at"].notna(), "order_id"])
        # the landed batches pass their blocking quality checks (and staging reads them)
        for b in batches:
            entity = source_entities.BY_TABLE[f"sales__{b['entity']}"]
            result = gate.validate_batch(c, entity, b["batch_id"], "t")
            if b["entity"] in NEW and b["rows_loaded"]:
                assert result.success_blocking, result.blocking_failures
            assert verdict.judge(c, result, entity, b["batch_id"]).failure is None
    # the second night landed only what changed after the first night (look-back re-reads
    # count as unchanged)
    start = np.datetime64(config.start.isoformat(), "s")
    first_until, second_until = start + np.timedelta64(21, "D"), start + np.timedelta64(40, "D")
    second = {b["entity"]: b for b in batches if b["watermark_before"]}
    for entity in NEW:
        frame = s[entity]
        if entity == "contacts":
            frame = frame[frame["name"].notna()]
        new = frame[(frame["updated_at"] >= first_until) & (frame["updated_at"] < second_until)]
        assert second[entity]["rows_loaded"] == len(new) > 0, entity
    # dbt: the staging models build on the landed rows; the unknown order references are
    # flagged (warned) by the shipments' relationships test, every other test passes
    as_of_date = config.start + timedelta(days=config.days)  # every landed version in scope
    results = _dbt_build(dsn, tmp_path, "path:models/staging/sales", as_of_date)
    assert {r["status"] for r in results.values()} <= {"success", "pass", "warn"}, {
        k: (r["status"], r["message"]) for k, r in results.items() if r["status"] == "error"}
    for name in ("stg_sales__contacts", "stg_sales__opportunities", "stg_sales__shipments"):
        assert results[f"model.crm_warehouse.{name}"]["status"] == "success"
    flagged = [r for k, r in results.items()
               if k.startswith("test.crm_warehouse.relationships_stg_sales__shipments_order_id")]
    assert len(flagged) == 1
    assert flagged[0]["status"] == "warn" and flagged[0]["failures"] == len(unknown)
    primary = [r for k, r in results.items()
               if k.startswith("test.crm_warehouse.unique_stg_sales__contacts_customer_id")]
    assert len(primary) == 1 and primary[0]["status"] == "pass"


def _dbt_build(dsn: str, tmp_path: Path, select: str, as_of_date: date) -> dict[str, dict]:
    """``dbt build --select ...`` as of a date against ``dsn``; run results by unique_id."""
    done = dbt_runner.run(dsn, "build", "--indirect-selection", "cautious",
                          "--select", *select.split(), as_of_date=as_of_date,
                          target=tmp_path / "target", logs=tmp_path / "logs")
    run_results = tmp_path / "target" / "run_results.json"
    assert run_results.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return {r["unique_id"]: r for r in json.loads(run_results.read_text())["results"]}
