"""The project's dbt command line (crmwh.dbt_runner), built without running dbt."""

from __future__ import annotations

import json
from datetime import date

from crmwh import dbt_runner


def test_a_two_word_command_keeps_its_options_after_the_subcommand():
    cmd = dbt_runner.command("docs generate", "--static", as_of_date=date(2026, 3, 31))
    assert cmd[1:3] == ["docs", "generate"]
    assert cmd.index("--project-dir") > 2 and cmd[-1] == "--static"
    assert json.loads(cmd[cmd.index("--vars") + 1]) == {"as_of_date": "2026-03-31"}


def test_vars_merge_the_as_of_date_with_the_others_and_none_means_no_vars():
    cmd = dbt_runner.command("build", as_of_date=date(1997, 1, 1), dbt_vars={"dq_run_id": "r"})
    assert json.loads(cmd[cmd.index("--vars") + 1]) == {"as_of_date": "1997-01-01",
                                                        "dq_run_id": "r"}
    assert "--vars" not in dbt_runner.command("parse")


def test_the_profile_reads_the_dsn_parts():
    env = dbt_runner.profile_env("postgresql://bi%40x:p%2Fw@db.example:6543/crm")
    assert env == {"CRM_DBT_HOST": "db.example", "CRM_DBT_PORT": "6543",
                   "CRM_DBT_USER": "bi@x", "CRM_DBT_PASSWORD": "p/w", "CRM_DBT_DBNAME": "crm"}
