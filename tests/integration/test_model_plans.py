"""EXPLAIN guard for the dbt models: no model's plan runs a subquery once per row.

Every non-ephemeral model is compiled against the served warehouse and explained
(:mod:`crmwh_devkit.bench.plans`). A hashed SubPlan counts too: the served warehouse's 300
customers fit in any ``work_mem``, but the same ``in (subquery)`` under ``or`` is run once per
row when its keys outgrow ``work_mem`` (``fct_receivables_daily``'s trim stalled the
100,000-customer next-day night that way). Nested loops are flagged above a row count this
warehouse scales down with it.
"""

from __future__ import annotations

import psycopg

from crmwh_devkit.bench import plans

LARGE = 1_000  # rows on each side of a nested loop: 100,000 at 100k customers, scaled


def test_no_model_runs_a_subquery_once_per_row(served):
    found = plans.model_problems(served.dsn, served.as_of_date, large=LARGE,
                                 dbt_vars={"dq_run_id": served.run_id}, hashed_ok=False)
    assert found == {}


def test_the_guard_flags_the_pattern_that_stalled_a_night(served):
    query = ("select * from core.fct_order_lines l where l.quantity < 0 "
             "or l.order_id in (select o.order_id from core.fct_orders o)")
    with psycopg.connect(served.dsn, autocommit=True) as conn:
        plan = plans.explain(conn, query)
    assert plans.plan_problems(plan) == []  # hashed at this size: fine by the default rule
    assert "only while it fits work_mem" in plans.plan_problems(plan, hashed_ok=False)[0]
