"""Query plans that are not linear in their inputs, and a check of every dbt model's plan.

A plan is flagged for

* a ``SubPlan`` that is not hashed, so it runs again for every row (``col in (select ...)``
  over more keys than fit in ``work_mem``: it stalled night 1's gate and night 2's
  ``fct_receivables_daily`` at 100,000 customers);
* a ``Nested Loop`` with more than ``large`` rows estimated on both sides.

:func:`model_problems` compiles the dbt project against a built warehouse and EXPLAINs each
model's select at a given ``work_mem``. A small warehouse fits every subquery in any
``work_mem`` (64 kB still hashes the suite's 300 customers), so the test suite checks its
served warehouse with ``hashed_ok=False``: any SubPlan over a relation fails there;
``python -m crmwh_devkit.bench.plans --dsn ... [--strict]`` checks a bench warehouse at any
size. Hooks (``pre_hook``) are not compiled by dbt and not checked.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from crmwh import dbt_runner

LARGE = 100_000  # rows estimated on each side of a nested loop that flag it


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an EXPLAIN (format json) plan, the root first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def _texts(node: dict[str, Any]) -> Iterator[str]:
    """The expressions of one node (Output, Filter, Hash Cond, ...)."""
    for value in node.values():
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            yield from (v for v in value if isinstance(v, str))


def plan_problems(plan: dict[str, Any], large: int = LARGE, hashed_ok: bool = True
                  ) -> list[str]:
    """What in an ``explain (verbose, format json)`` plan is not linear in its inputs. With
    ``hashed_ok`` false a hashed SubPlan counts too: it stays hashed only while its keys fit
    in ``work_mem``, so a small warehouse shows as hashed what a large one runs per row."""
    every = list(nodes(plan))
    texts = " ".join(t for n in every for t in _texts(n))
    problems = []
    for node in every:
        if node.get("Parent Relationship") == "SubPlan":
            name = node.get("Subplan Name", "")
            if not (name.startswith("hashed") or re.search(rf"hashed {name}\b", texts)):
                problems.append(f"{name} ({node['Node Type']}) is not hashed: it runs once "
                                "per row")
            elif not hashed_ok:
                problems.append(f"{name} ({node['Node Type']}) is hashed only while it fits "
                                "work_mem")
        if node["Node Type"] == "Nested Loop":
            sides = [c["Plan Rows"] for c in node["Plans"]
                     if c.get("Parent Relationship") in ("Outer", "Inner")]
            if len(sides) == 2 and min(sides) > large:
                problems.append(f"Nested Loop over {sides[0]:,} x {sides[1]:,} rows")
    return problems


def explain(conn: psycopg.Connection, query: str) -> dict[str, Any]:
    """The plan of ``query`` (EXPLAIN, not run)."""
    found = conn.execute(
        sql.SQL("explain (verbose, format json) {}").format(sql.SQL(query))).fetchone()[0]
    return (json.loads(found) if isinstance(found, str) else found)[0]["Plan"]


def compiled_models(dsn: str, as_of_date: date, dbt_vars: dict | None = None
                    ) -> dict[str, str]:
    """The compiled select of every non-ephemeral model, by model name (``dbt compile`` into a
    private target folder, with the given vars)."""
    with tempfile.TemporaryDirectory(prefix="crmwh-plans-") as work:
        done = dbt_runner.run(dsn, "compile", "--select", "resource_type:model",
                              as_of_date=as_of_date, dbt_vars=dbt_vars,
                              target=Path(work), logs=Path(work) / "logs")
        if done.returncode != 0:
            raise RuntimeError(f"dbt compile failed: {done.stdout[-2000:]}")
        manifest = json.loads((Path(work) / "manifest.json").read_text(encoding="utf-8"))
    return {node["name"]: node["compiled_code"] for node in manifest["nodes"].values()
            if node["resource_type"] == "model"
            and node["config"]["materialized"] != "ephemeral" and node.get("compiled_code")}


def model_problems(dsn: str, as_of_date: date, work_mem: str = "4MB",
                   dbt_vars: dict | None = None, large: int = LARGE, hashed_ok: bool = True
                   ) -> dict[str, list[str]]:
    """Every model whose plan on the warehouse at ``dsn`` has a problem, at ``work_mem``
    (:func:`plan_problems`)."""
    found = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("set work_mem = {}").format(sql.Literal(work_mem)))
        for name, query in sorted(compiled_models(dsn, as_of_date, dbt_vars).items()):
            problems = plan_problems(explain(conn, query), large, hashed_ok)
            if problems:
                found[name] = problems
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dsn", required=True, help="a built warehouse")
    p.add_argument("--as-of-date", type=date.fromisoformat, required=True)
    p.add_argument("--work-mem", default="4MB")
    p.add_argument("--strict", action="store_true", help="flag hashed SubPlans too")
    args = p.parse_args(argv)
    found = model_problems(args.dsn, args.as_of_date, args.work_mem,
                           hashed_ok=not args.strict)
    for name, problems in found.items():
        print(f"{name}: {'; '.join(problems)}")
    print(f"{len(found)} model(s) with a plan that is not linear at work_mem {args.work_mem}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
