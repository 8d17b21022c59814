"""`crmwh bench`: extract + land of each source next to plain COPY of the same rows."""

from __future__ import annotations

import psycopg

from crmwh import database, pipeline
from crmwh_devkit.bench import extract_land, floor


def test_bench_reports_each_source_next_to_plain_copy_and_the_billing_floor(cfg, monkeypatch):
    monkeypatch.setenv("CRM_LOAD_WORKERS", "2")
    result = extract_land.run(customers=300, days=5, progress=lambda *_: None)
    assert result["load_workers"] == 2
    for source in pipeline.SOURCES:
        got = result["sources"][source]
        one = got["one_worker"]
        # the same generated rows, landed by two workers and by one, each beside its COPY
        assert got["rows"] == one["rows"] > 0, source
        assert 0 < got["copy_rows"] <= got["rows"], source
        assert one["copy_rows"] == got["copy_rows"], source  # and the same rows landed
        for r in (got, one):
            assert r["rows_per_s"] > 0 and r["copy_rows_per_s"] > 0 and r["ratio_to_copy"] > 0

    # the floor of billing's landing, on the files the bench just generated and landed
    ways = floor.run(cfg.home / "bench" / "sources" / "billing", cfg.admin_dsn,
                     progress=lambda *_: None)["ways"]
    assert ways["copy_only"]["rows"] == ways["hash"]["rows"] >= ways["contract"]["rows"] > 0
    for got in ways.values():
        assert got["seconds"] > 0 and got["copy_seconds"] > 0 and got["ratio_to_copy"] > 0
    # its last way (the contract) computed the pipeline's row hash, and each row landed once
    pipeline_db = database.with_database(cfg.admin_dsn, "crm_bench")
    floor_db = database.with_database(cfg.admin_dsn, floor.DATABASE)
    for entity in ("payments", "accounts"):  # CSV entities without unknown fields
        table = f"raw.billing__{entity}"
        with psycopg.connect(floor_db) as conn:
            hashes = [h for (h,) in conn.execute(f"select _row_hash from {table}")]
        with psycopg.connect(pipeline_db) as conn:
            landed = {h for (h,) in conn.execute(f"select _row_hash from {table}")}
        assert len(hashes) == len(set(hashes))
        assert landed and landed <= set(hashes), entity
