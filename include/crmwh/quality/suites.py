"""Expectation suites: one reviewed JSON file per source entity.

``expectations/<source>__<entity>.json`` holds a Great Expectations 1.x suite:
``name`` (the raw table name), ``meta`` and ``expectations``, each with ``type``,
``kwargs`` and ``meta.severity`` (``blocking`` stops the nightly run,
``warning`` is only recorded). The blocking part must cover the entity as
:mod:`crmwh.source_entities` declares it; :func:`suite_problems` says where it does
not, and a suite with problems is refused when it is loaded.

Nothing here imports Great Expectations; the files are plain JSON.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from crmwh.errors import CrmwhError
from crmwh.quality.profile import PROFILE_COLUMNS
from crmwh.settings import PROJECT_ROOT
from crmwh.source_entities import BY_TABLE, Entity

SEVERITIES = ("blocking", "warning")
VOLUME_KEYS = ("history_batches", "min_history", "min_median", "drop_below", "spike_above")
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

# Kwargs that name a column of the batch, per expectation shape.
COLUMN_KWARGS = ("column", "column_A", "column_B")


def resolve_entity(entity: Entity | str) -> Entity:
    """An Entity, given one or its raw table name (``sales__orders``)."""
    if isinstance(entity, Entity):
        return entity
    name = entity.removeprefix("raw.")
    try:
        return BY_TABLE[name]
    except KeyError:
        raise CrmwhError(
            f"unknown entity {entity!r}",
            f"use one of {', '.join(sorted(BY_TABLE))} (see crmwh.source_entities)",
        ) from None


def suite_path(entity: Entity | str) -> Path:
    """Where the suite for ``entity`` lives: ``expectations/<source>__<entity>.json``."""
    return EXPECTATIONS_DIR / f"{resolve_entity(entity).table}.json"


def columns_of(expectation: dict[str, Any]) -> list[str]:
    """The batch columns an expectation looks at (empty for table-level ones)."""
    kwargs = expectation.get("kwargs") or {}
    return [kwargs[k] for k in COLUMN_KWARGS if isinstance(kwargs.get(k), str)]


def suite_problems(entity: Entity, suite: dict[str, Any]) -> list[str]:
    """Ways ``suite`` fails to be a well-formed suite covering ``entity``'s declaration.

    Checked: the shape of every expectation; a known severity; columns that
    the entity declares; and blocking expectations for column existence,
    required columns not null, the key not null and unique, accepted values and
    min values exactly as the entity declares them.
    """
    problems: list[str] = []
    if suite.get("name") != entity.table:
        problems.append(f"name is {suite.get('name')!r}, expected {entity.table!r}")
    expectations = suite.get("expectations")
    if not isinstance(expectations, list) or not expectations:
        return [*problems, "no expectations list"]
    derived = suite.get("derived_columns") or {}
    problems += _derived_problems(entity, derived)
    problems += _profile_problems(suite.get("profile_expectations") or [])
    shape, blocking = _expectation_problems(entity, expectations, derived)
    return problems + shape + _coverage_problems(entity, blocking)


def _derived_problems(entity: Entity, derived: dict[str, Any]) -> list[str]:
    """Derived (referential) columns: an entity column referencing another entity's."""
    problems = []
    for name, spec in derived.items():
        ref = (spec or {}).get("references", "")
        if (spec or {}).get("column") not in entity.column_names:
            problems.append(f"derived column {name}: column {spec.get('column')!r} not in contract")
        table, _, key = ref.partition(".")
        if table not in BY_TABLE or key not in BY_TABLE[table].column_names:
            problems.append(f"derived column {name}: references {ref!r} is no contract column")
    return problems


def _expectation_problems(entity: Entity, expectations: list[Any], derived: dict[str, Any]
                          ) -> tuple[list[str], list[dict[str, Any]]]:
    """The shape of each row expectation; and the well-formed blocking ones."""
    problems: list[str] = []
    blocking: list[dict[str, Any]] = []
    for i, exp in enumerate(expectations):
        where = f"expectation {i}"
        if not isinstance(exp, dict) or not isinstance(exp.get("type"), str):
            problems.append(f"{where}: needs a string 'type'")
            continue
        where = f"expectation {i} ({exp['type']})"
        if not exp["type"].startswith("expect_"):
            problems.append(f"{where}: type must start with 'expect_'")
        if not isinstance(exp.get("kwargs"), dict):
            problems.append(f"{where}: needs a 'kwargs' object")
            continue
        severity = (exp.get("meta") or {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{where}: meta.severity must be one of {SEVERITIES}, not {severity!r}")
        for col in columns_of(exp):
            if col not in entity.column_names and col not in derived:
                problems.append(f"{where}: column {col!r} is not in the contract")
        if severity == "blocking":
            blocking.append(exp)
    return problems, blocking


def _coverage_problems(entity: Entity, blocking: list[dict[str, Any]]) -> list[str]:
    """What the entity declares that no blocking expectation checks."""

    def has(type_: str, column: str | None = None, **kwargs: Any) -> bool:
        for exp in blocking:
            kw = exp["kwargs"]
            if exp["type"] != type_ or (column is not None and kw.get("column") != column):
                continue
            if all(_same(kw.get(k), v) for k, v in kwargs.items()):
                return True
        return False

    problems = []
    existence = any(
        exp["type"] == "expect_table_columns_to_match_set"
        and set(exp["kwargs"].get("column_set") or ()) >= set(entity.column_names)
        for exp in blocking
    )
    if not existence:
        missing = [c for c in entity.column_names if not has("expect_column_to_exist", c)]
        if missing:
            problems.append(f"no blocking existence check for columns {missing}")
    for col in entity.columns:
        if (col.required or col.name == entity.key) and not has(
            "expect_column_values_to_not_be_null", col.name
        ):
            problems.append(f"no blocking not-null check for {col.name}")
        if col.accepted and not has(
            "expect_column_values_to_be_in_set", col.name, value_set=list(col.accepted)
        ):
            problems.append(f"no blocking in-set check for {col.name} with {list(col.accepted)}")
        if col.min_value is not None and not has(
            "expect_column_values_to_be_between", col.name, min_value=col.min_value
        ):
            problems.append(f"no blocking min-value check for {col.name} >= {col.min_value}")
    if not has("expect_column_values_to_be_unique", entity.key):
        problems.append(f"no blocking unique check for key {entity.key}")
    return problems


def _profile_problems(expectations: list[Any]) -> list[str]:
    """Profile expectations: a known severity, a profile column, and a volume or age rule."""
    problems = []
    for i, exp in enumerate(expectations):
        where = f"profile expectation {i}"
        if not isinstance(exp, dict) or not isinstance(exp.get("kwargs"), dict):
            problems.append(f"{where}: needs 'type' and a 'kwargs' object")
            continue
        meta = exp.get("meta") or {}
        if meta.get("severity") not in SEVERITIES:
            problems.append(f"{where}: meta.severity must be one of {SEVERITIES}")
        if exp["kwargs"].get("column") not in PROFILE_COLUMNS:
            problems.append(f"{where}: column must be one of {PROFILE_COLUMNS}")
        volume = meta.get("volume")
        if volume is not None and not set(VOLUME_KEYS) <= set(volume):
            problems.append(f"{where}: meta.volume needs {', '.join(VOLUME_KEYS)}")
        if volume is None and not isinstance(meta.get("max_age_hours"), int | float):
            problems.append(f"{where}: needs meta.volume or a numeric meta.max_age_hours")
    return problems


def _same(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, list):
        return isinstance(actual, list) and sorted(map(str, actual)) == sorted(map(str, wanted))
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        return isinstance(actual, int | float) and float(actual) == float(wanted)
    return actual == wanted


@cache
def _load(table: str) -> dict[str, Any]:
    entity = BY_TABLE[table]
    path = suite_path(entity)
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CrmwhError(
            f"no expectation suite for {entity.qualified}: {path} is missing",
            "add the suite (copy a sibling file and adapt it to the contract)",
        ) from None
    except json.JSONDecodeError as exc:
        raise CrmwhError(f"{path} is not valid JSON: {exc}", "fix the file") from None
    if not isinstance(suite, dict):
        raise CrmwhError(f"{path} must hold a JSON object", "fix the file")
    problems = suite_problems(entity, suite)
    if problems:
        raise CrmwhError(
            f"expectation suite {path.name} does not match the contract: {'; '.join(problems)}",
            "fix the suite or crmwh/source_entities.py so they agree",
        )
    return suite


def load_suite_json(entity: Entity | str) -> dict[str, Any]:
    """The parsed, checked suite for ``entity`` (read once per process; a copy each call)."""
    return copy.deepcopy(_load(resolve_entity(entity).table))
