"""The source contract page (docs/source_contract.md) is what ``crmwh contract`` generates.

The check needs the dbt lineage, so it runs ``dbt parse`` (no database: the profile's
connection is never opened) into a temporary target through the runtime's dbt runner, once
for the module, about 15 s. A lineage file committed next to the page would make the test
instant but could itself go stale: a new mart reading an entity would not reach the page.
"""

from __future__ import annotations

import json

import pytest

from crmwh import contract_page, dbt_runner

# parse renders the profile but never connects
NO_DATABASE = "postgresql://parse:parse@127.0.0.1:1/parse"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    target = tmp_path_factory.mktemp("dbt_parse")
    done = dbt_runner.run(NO_DATABASE, "parse", "--quiet", target=target, logs=target / "logs",
                          timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))


def test_the_page_is_what_crmwh_contract_generates(manifest):
    expected = contract_page.render(manifest)
    committed = contract_page.PAGE.read_text(encoding="utf-8")
    assert committed == expected, (
        f"{contract_page.PAGE.name} is out of date: run `crmwh contract` to refresh it")


