"""Reports, logs and GX Data Docs are pruned to the last CRM_KEEP_RUNS runs."""

from __future__ import annotations

import os

import pytest

from crmwh import retention, settings
from crmwh.errors import CrmwhError


def test_prune_keeps_the_newest_runs_of_each_kind(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_HOME", str(tmp_path))
    monkeypatch.setenv("CRM_KEEP_RUNS", "2")
    cfg = settings.load()
    assert cfg.keep_runs == 2
    days = [f"2026-01-0{d}" for d in range(1, 6)]
    for i, day in enumerate(days):
        (tmp_path / "reports").mkdir(exist_ok=True)
        (tmp_path / "reports" / f"crm_nightly_{day}.html").write_text("r")
        (tmp_path / "logs").mkdir(exist_ok=True)
        (tmp_path / "logs" / f"crm_nightly_{day}.log").write_text("l")
        for folder in (tmp_path / "data_docs" / f"run_{i}",
                       cfg.airflow_home / "logs" / "dag_id=crm_nightly" / f"run_id=run_{i}"):
            folder.mkdir(parents=True)
            (folder / "page.html").write_text("p")
            os.utime(folder, (1_000_000 + i, 1_000_000 + i))  # run_4 is the newest
    (tmp_path / "reports" / "latest.html").write_text("latest")

    assert retention.prune(cfg) == {"reports": 3, "logs": 3, "airflow_logs": 3, "data_docs": 3}
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        "crm_nightly_2026-01-04.html", "crm_nightly_2026-01-05.html", "latest.html"]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        "crm_nightly_2026-01-04.log", "crm_nightly_2026-01-05.log"]
    assert sorted(p.name for p in (tmp_path / "data_docs").iterdir()) == ["run_3", "run_4"]
    assert retention.prune(cfg) == dict.fromkeys(
        ("reports", "logs", "airflow_logs", "data_docs"), 0)


def test_keep_runs_must_be_a_positive_whole_number(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_HOME", str(tmp_path))
    monkeypatch.setenv("CRM_KEEP_RUNS", "0")
    with pytest.raises(CrmwhError, match="CRM_KEEP_RUNS"):
        settings.load()
