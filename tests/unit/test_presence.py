"""Which sources a run extracts: set, mapped, or simulated in the home; else absent."""

from __future__ import annotations

import pytest

from crmwh import settings
from crmwh.extract import presence
from tests.support.ports import free_port


@pytest.fixture()
def bare(tmp_path, monkeypatch):
    """Settings of an empty home whose sales database nothing answers for."""
    for name in (*settings.SOURCE_SETTINGS.values(), "CRM_WAREHOUSE_DSN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_HOME", str(tmp_path))
    monkeypatch.setenv("CRM_PG_PORT", str(free_port()))
    return monkeypatch


def test_an_empty_home_has_no_source_and_says_why(bare):
    cfg = settings.load()
    assert presence.present_sources(cfg) == {}
    assert "CRM_BILLING_DIR is not set" in presence.absence_reason(cfg, "billing")


def test_a_set_setting_makes_a_source_present(bare, tmp_path):
    bare.setenv("CRM_BILLING_DIR", str(tmp_path / "not-there-yet"))
    bare.setenv("CRM_SERVICE_URL", "http://127.0.0.1:1")
    assert presence.present_sources(settings.load()) == {
        "billing": "CRM_BILLING_DIR is set", "service": "CRM_SERVICE_URL is set"}


def test_simulated_systems_in_the_home_are_present(bare, tmp_path):
    (tmp_path / "sources" / "billing").mkdir(parents=True)
    (tmp_path / "sources" / "service").mkdir()
    assert list(presence.present_sources(settings.load())) == ["billing"]
    (tmp_path / "sources" / "service" / "tickets.jsonl").write_text("{}\n")
    assert list(presence.present_sources(settings.load())) == ["billing", "service"]


def test_a_mapped_source_is_present(bare, monkeypatch):
    monkeypatch.setattr(presence, "mapped_sources", lambda cfg: {"sales": "mapping.yml"})
    assert presence.present_sources(settings.load()) == {"sales": "mapping.yml"}
