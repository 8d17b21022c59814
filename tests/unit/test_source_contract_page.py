"""The source contract page (docs/source_contract.md): every contract column is on it, and
the pieces of its rendering that need no dbt lineage. That the committed page is what
``crmwh contract`` generates is checked in tests/integration/test_source_contract_page.py
(it parses the dbt project)."""

from __future__ import annotations

import re

from crmwh import contract_page
from crmwh.source_entities import ENTITIES


def sections(page: str) -> dict[str, str]:
    """Each entity's section of the page by its raw table name."""
    parts = re.split(r"^### (\S+)$", page, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_contract_column_is_on_the_page():
    found = sections(contract_page.PAGE.read_text(encoding="utf-8"))
    missing = [f"{e.table}.{c}" for e in ENTITIES for c in e.column_names
               if f"\n| `{c}` |" not in found.get(e.table, "")]
    assert not missing, f"not on the page (run `crmwh contract`): {missing}"


def test_staging_outputs_follow_renames_through_ctes():
    sql = """
        {#- recommend is 0-10 -#}
        with renamed as (
            select cast(score as integer) as score, {{ clean_text('name') }} as rep_name,
                   _batch_id
            from {{ source('s', 'e') }}  -- score is never null
        ), classified as (
            select score, rep_name, case when score >= 9 then 'promoter'
                       else 'other' end as nps_class, round(score / 2.0, 1) as half
            from renamed
        )
        select * from classified
    """
    assert contract_page.staging_outputs(sql, "score") == {"score", "nps_class", "half"}
    assert contract_page.staging_outputs(sql, "name") == {"rep_name"}
    assert contract_page.staging_outputs(sql, "never") == set()


def test_gate_summary_groups_not_null_and_words_references():
    suite = {
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"},
             "meta": {"severity": "blocking"}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "a"},
             "meta": {"severity": "blocking"}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "b"},
             "meta": {"severity": "blocking"}},
            {"type": "expect_column_values_to_be_in_set",
             "kwargs": {"column": "b__known", "value_set": [True]},
             "meta": {"severity": "blocking", "check": "referential", "min_rows": 50}},
        ],
        "derived_columns": {"b__known": {"column": "b", "references": "x__y.b"}},
        "profile_expectations": [
            {"type": "expect_column_values_to_be_between",
             "kwargs": {"column": "newest_updated_at"},
             "meta": {"severity": "warning", "max_age_hours": 336}},
        ],
    }
    assert contract_page.gate_summary(suite) == {
        "blocking": ["not null: `a`, `b`", "`a` unique",
                     "`b` → `x__y.b` (at most `CRM_ORPHAN_REJECT_SHARE` unknown in batches "
                     "of 50+ rows; orphans park)"],
        "warning": ["freshness: newest change at most 336 h old"],
    }
