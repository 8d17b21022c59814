"""`crmwh bench`: extract + land of each source next to plain COPY of the same rows."""

from __future__ import annotations

from crmwh import bench, pipeline


def test_bench_reports_each_source_next_to_plain_copy(cfg, monkeypatch):
    monkeypatch.setenv("CRM_LOAD_WORKERS", "2")
    result = bench.run(customers=300, days=5, progress=lambda *_: None)
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
