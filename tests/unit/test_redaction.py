"""Secrets and personal data kept out of logs: the gate's masking changes no check's verdict
(every suite's expectations on personal columns, on the generated sources' values and on
crafted ones), and a failing webhook is logged by its host only. (A gate run's results, log
and Data Docs: tests/integration/test_quality_gate.py.)"""

from __future__ import annotations

import logging
import re

import pandas as pd
import pytest

from crmwh.quality import load_suite_json, notify, redact
from crmwh.source_entities import ENTITIES

CRAFTED = ["a@b.c", "a@@b.c", "a b@c.d", "ü@ö.de", "a@b", "@b.c", "a@b.", "  a@b.c  ",
           "\ta@b.c", "a@b..c", "x.y@z.co.uk", "nb\u00a0sp@y.z", "+49 (30) 1234-5", "", "."]


def _personal_values(demo_data) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for frames in (demo_data.sales, demo_data.billing, demo_data.service):
        for frame in frames.values():
            for column in redact.pii_columns(frame.columns):
                found.setdefault(column, []).extend(frame[column].dropna().astype(str))
    return found


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.table)
def test_masking_changes_no_verdict_on_personal_columns(entity, demo_data):
    generated = _personal_values(demo_data)
    for exp in load_suite_json(entity)["expectations"]:
        column = exp["kwargs"].get("column")
        if column is None or not redact.pii_columns([column]):
            continue
        assert exp["type"] in ("expect_column_values_to_not_be_null",
                               "expect_column_values_to_match_regex"), (
            f"{entity.table}: {exp['type']} on personal column {column}: show that masking "
            "keeps its verdict (crmwh.quality.redact) before adding it")
        values = pd.Series([*CRAFTED, *generated.get(column, [])[:5000], None], dtype=object)
        masked = redact.masked(pd.DataFrame({column: values}))[column]
        assert masked.isna().tolist() == values.isna().tolist()
        if exp["type"] == "expect_column_values_to_match_regex":
            pattern = re.compile(exp["kwargs"]["regex"])
            for real, shown in zip(values.dropna(), masked.dropna(), strict=True):
                assert bool(pattern.search(real)) == bool(pattern.search(shown)), real
                assert not set(shown) - set("x@. \t\u00a0"), shown


def test_a_failing_webhook_is_logged_without_its_secret(monkeypatch, caplog):
    secret = "T000/B000/XXXXsecretXXXX"
    monkeypatch.setenv("CRM_ALERT_WEBHOOK_URL", f"http://127.0.0.1:9/services/{secret}")
    monkeypatch.delenv("CRM_ALERT_EMAIL_TO", raising=False)
    alert = notify.Alert("probe", "run-x", "task-y", None)
    with caplog.at_level(logging.WARNING):
        reached = notify.send_alert(alert)
    assert "webhook" not in reached
    assert "alert webhook http://127.0.0.1/" in caplog.text
    assert secret not in caplog.text and "services" not in caplog.text
