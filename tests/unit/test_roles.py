"""The dbt project's PII list and analyst role agree with the roles module (read from
dbt_project.yml, no database). (The roles on a built warehouse: tests/integration/test_roles.py.)
"""

from __future__ import annotations

from crmwh.settings import dbt_vars
from crmwh.warehouse import roles


def test_dbt_pii_list_matches_the_roles_module():
    project_vars = dbt_vars()
    dbt_pii = {f"core.{t}": tuple(cols) for t, cols in project_vars["pii_columns"].items()}
    assert dbt_pii == roles.PII_COLUMNS
    assert project_vars["analyst_role"] == roles.ANALYST
