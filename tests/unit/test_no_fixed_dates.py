"""Users bring data of any age (1997, 2045): nothing that builds or judges the warehouse may
hard-code a year. The calendar's bounds come from the data (tests/integration/
test_any_date_range.py builds it as of 1997 and 2045)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DBT = ROOT / "dbt_project"
YEAR = re.compile(r"\b(?:1[89]|2[0-9])\d\d\b")
DATE_LITERAL = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def test_dim_date_has_no_fixed_years():
    text = (DBT / "models" / "core" / "dim_date.sql").read_text()
    assert not YEAR.findall(text)
    assert "date_spine('(select first_day from bounds)'" in text  # bounds computed in SQL
    assert "run_query" not in text  # it compiles without a database


def test_no_model_or_macro_hard_codes_a_date():
    found = [f"{path.relative_to(ROOT)}: {match}"
             for folder in ("models", "macros", "tests", "snapshots")
             for path in sorted((DBT / folder).rglob("*.sql"))
             for match in DATE_LITERAL.findall(path.read_text())]
    assert found == []


def test_expectations_hold_no_dates():
    found = [f"{path.name}: {match}" for path in sorted((ROOT / "expectations").glob("*.json"))
             for match in DATE_LITERAL.findall(path.read_text())]
    assert found == []


def test_dag_starts_before_any_data():
    # `airflow dags test` of a logical date before start_date runs no task and says success
    text = (ROOT / "dags" / "crm_nightly.py").read_text()
    years = re.findall(r"start_date=pendulum\.datetime\((\d{4})", text)
    assert years and int(years[0]) <= 1900
    assert "catchup=False" in text
