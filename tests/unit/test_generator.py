"""The generator: deterministic, and the dirt and behaviour the pipeline must handle. (The
session's sales database regenerated: tests/integration/test_generator.py.)"""

from __future__ import annotations

from datetime import date

import numpy as np

from crmwh_devkit.simulators import billing_drops, fill
from crmwh_devkit.simulators.generator import GeneratorConfig, generate


def _write(tmp, seed: int) -> str:
    config = GeneratorConfig(seed=seed, customers=200, start=date(2026, 1, 1), days=30)
    data = generate(config)
    billing_drops.write(tmp, data.billing, config.start, config.days, seed, 0.05, 0.03)
    return fill.files_digest(tmp)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = _write(tmp_path / "a", 11)
    b = _write(tmp_path / "b", 11)
    c = _write(tmp_path / "c", 12)
    assert a == b
    assert a != c


def test_keys_differ_across_systems_and_ground_truth_maps_them():
    data = generate(GeneratorConfig(seed=3, customers=300, days=30))
    truth = data.truth["identity"]
    accounts = data.billing["accounts"]
    assert not set(accounts["account_id"]) & set(data.sales["customers"]["customer_id"].astype(str))
    assert set(truth["billing_account_id"]) == set(accounts["account_id"])
    # the same e-mail is mostly there, written differently in billing than in sales
    same = accounts["email"].str.strip().str.lower() == truth["email"]
    assert 0.8 < same.mean() < 0.95  # the rest: missing or another address (gen_identity)
    assert (accounts["email"] != truth["email"]).mean() > 0.3
    # tickets and surveys have their true customer in the ground truth, nowhere else
    tickets = data.truth["service_tickets"]
    assert set(tickets["ticket_id"]) == set(data.service["tickets"]["ticket_id"])
    assert set(data.truth["service_surveys"]["survey_id"]) == set(
        data.service["surveys"]["survey_id"])


def test_customers_are_acquired_over_time_and_some_churn():
    config = GeneratorConfig(seed=5, customers=2000, days=120)
    data = generate(config)
    created = data.sales["customers"]["created_at"]
    in_window = (created >= np.datetime64(config.start)).mean()
    assert 0.5 < in_window < 0.8
    churned = data.truth["churn"]["churned_at"].notna().mean()
    assert 0.05 < churned < 0.6
