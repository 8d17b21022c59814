"""The Great Expectations suites, read without a database: every entity's suite covers its
landing contract, and the suite check catches a dropped or a foreign check. (The gate on a
real Postgres: tests/integration/test_quality_gate.py.)"""

from __future__ import annotations

import copy

import pytest

from crmwh.quality import load_suite_json, suite_path, suite_problems
from crmwh.source_entities import BY_TABLE, ENTITIES

ORDERS = BY_TABLE["sales__orders"]


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.table)
def test_every_entity_has_a_suite_covering_its_contract(entity):
    path = suite_path(entity)
    assert path.name == f"{entity.table}.json" and path.is_file()
    suite = load_suite_json(entity)
    assert suite["name"] == entity.table

    blocking = [e for e in suite["expectations"] if e["meta"]["severity"] == "blocking"]
    assert all(e["meta"]["severity"] in ("blocking", "warning") for e in suite["expectations"])

    def blocking_on(type_: str) -> dict[str, dict]:
        return {e["kwargs"].get("column"): e["kwargs"] for e in blocking if e["type"] == type_}

    not_null = blocking_on("expect_column_values_to_not_be_null")
    for col in entity.columns:
        if col.required:
            assert col.name in not_null, f"{entity.table}: {col.name} has no not-null check"
    assert entity.key in not_null
    assert entity.key in blocking_on("expect_column_values_to_be_unique")

    column_sets = [
        set(e["kwargs"]["column_set"])
        for e in blocking
        if e["type"] == "expect_table_columns_to_match_set"
    ]
    exists = set(blocking_on("expect_column_to_exist"))
    assert set(entity.column_names) <= exists.union(*column_sets)

    in_set = blocking_on("expect_column_values_to_be_in_set")
    between = blocking_on("expect_column_values_to_be_between")
    for col in entity.columns:
        if col.accepted:
            assert sorted(in_set[col.name]["value_set"]) == sorted(col.accepted)
        if col.min_value is not None:
            assert between[col.name]["min_value"] == col.min_value

    email_cols = [c for c in entity.column_names if "email" in c]
    regex = {
        e["kwargs"]["column"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_match_regex" and e["meta"]["severity"] == "warning"
    }
    assert set(email_cols) <= regex

    assert suite_problems(entity, suite) == []


def test_suite_problems_catches_a_dropped_check():
    suite = copy.deepcopy(load_suite_json(ORDERS))
    suite["expectations"] = [
        e
        for e in suite["expectations"]
        if e["kwargs"].get("column") != "status" or e["type"] != "expect_column_values_to_be_in_set"
    ]
    suite["expectations"][0]["meta"]["severity"] = "fatal"
    suite["expectations"].append(
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "chanel"}, "meta": {}}
    )
    problems = " | ".join(suite_problems(ORDERS, suite))
    assert "in-set check for status" in problems
    assert "'fatal'" in problems
    assert "'chanel' is not in the contract" in problems
