"""Stable, documented marts: every model under models/marts has an enforced contract, a
description and a description on every column; marts and the quality checks read core, never
staging; exposures declare who reads the marts; the dbt docs site generates as one static file.
The first test fails on any mart that lacks them: that is its job.
"""

from __future__ import annotations

import json

import pytest

from crmwh import dbt_docs
from tests.support import dbt_runner

MARTS = "models/marts/"
QUALITY = "models/quality/"
STAGING = "models/staging/"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory, cfg) -> dict:
    target = tmp_path_factory.mktemp("dbt_parse")
    done = dbt_runner.run(cfg.warehouse_dsn, "parse", target=target)
    assert done.returncode == 0, done.stdout[-3000:]
    return json.loads((target / "manifest.json").read_text())


def mart_models(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["original_file_path"].startswith(MARTS)]


def test_every_mart_has_an_enforced_contract_and_every_column_a_description(manifest):
    marts = mart_models(manifest)
    assert len(marts) >= 8
    problems = []
    for node in marts:
        name = node["name"]
        if not node["config"].get("contract", {}).get("enforced"):
            problems.append(f"{name}: contract not enforced")
        if not node["description"].strip():
            problems.append(f"{name}: no description")
        if not node["columns"]:
            problems.append(f"{name}: no columns declared")
        for col, spec in node["columns"].items():
            if not (spec.get("description") or "").strip():
                problems.append(f"{name}.{col}: no description")
            if not spec.get("data_type"):
                problems.append(f"{name}.{col}: no data_type")
        if not name.startswith("mart_"):
            problems.append(f"{name}: mart models are named mart_<...>")
    assert not problems, "\n".join(problems)


def read_through_ephemerals(manifest: dict, node: dict) -> set[str]:
    """The nodes ``node`` reads, looking through the ephemeral models compiled into it."""
    seen: set[str] = set()
    todo = list(node["depends_on"]["nodes"])
    while todo:
        parent = todo.pop()
        if parent in seen:
            continue
        seen.add(parent)
        upstream = manifest["nodes"].get(parent)
        if upstream and upstream["config"].get("materialized") == "ephemeral":
            todo.extend(upstream["depends_on"]["nodes"])
    return seen


def test_marts_and_quality_checks_read_core_not_staging(manifest):
    readers = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"
               and n["original_file_path"].startswith((MARTS, QUALITY))]
    assert readers
    problems = []
    for node in readers:
        for parent in sorted(read_through_ephemerals(manifest, node)):
            upstream = manifest["nodes"].get(parent)
            if upstream and upstream["original_file_path"].startswith(STAGING):
                problems.append(f"{node['name']} reads {upstream['name']}")
    assert not problems, "\n".join(problems)


def test_exposures_declare_the_dashboards_and_read_marts_only(manifest):
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {"crm_nightly_report", "managers_questions", "customer_value_dashboard",
            "sales_dashboard", "customer_lookup"} <= set(exposures)
    marts = {n["unique_id"] for n in mart_models(manifest)}
    read = set()
    for exp in exposures.values():
        assert exp["description"].strip() and exp["owner"]["email"]
        assert exp["depends_on"]["nodes"], exp["name"]
        assert set(exp["depends_on"]["nodes"]) <= marts, f"{exp['name']} reads a non-mart"
        read |= set(exp["depends_on"]["nodes"])
    unread = sorted(m.split(".")[-1] for m in marts - read
                    if not m.endswith("_history"))  # history marts feed the latest ones
    assert not unread, f"marts no exposure reads: {unread}"


def test_docs_generate_as_one_static_file(served, cfg, tmp_path):
    site = dbt_docs.generate(cfg, served.as_of_date, out_dir=tmp_path, dsn=served.dsn)
    html = site.read_text()
    assert site.name == "crm_warehouse_docs.html" and len(html) > 100_000
    for name in ("mart_customer_directory", "mart_sales_daily", "mart_customer_value",
                 "customer_lookup"):
        assert name in html
    catalog = json.loads((tmp_path / "catalog.json").read_text())
    built = {n.split(".")[-1] for n in catalog["nodes"]}
    assert {"mart_customer_directory", "mart_sales_daily"} <= built


def _text(comment: object) -> str:
    return comment.strip() if isinstance(comment, str) else ""  # no comment: None / NaN


def test_dbt_descriptions_are_the_comments_of_core_and_the_marts(manifest, served):
    """persist_docs: every documented core and mart column carries its dbt description as its
    PostgreSQL comment (what `\\d+` and a BI tool show), and so does every relation."""
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"
             and n["original_file_path"].startswith((MARTS, "models/core/"))
             and n["config"]["materialized"] != "ephemeral"]
    want = {(n["schema"], n["alias"], col): spec["description"].strip()
            for n in nodes for col, spec in n["columns"].items()
            if (spec.get("description") or "").strip()}
    relations = {(n["schema"], n["alias"]): n["description"].strip() for n in nodes}
    got = served.frame(
        """select n.nspname as schema, c.relname as relation, a.attname as col,
                  col_description(c.oid, a.attnum) as comment
           from pg_attribute a join pg_class c on c.oid = a.attrelid
           join pg_namespace n on n.oid = c.relnamespace
           where n.nspname in ('core', 'marts') and a.attnum > 0 and not a.attisdropped""")
    comments = {(r.schema, r.relation, r.col): _text(r.comment) for r in got.itertuples()}
    assert len(want) > 300 and {s for s, _, _ in want} == {"core", "marts"}
    wrong = sorted(f"{s}.{t}.{c}" for (s, t, c), text in want.items()
                   if comments.get((s, t, c)) != text)
    assert not wrong, f"{len(wrong)} of {len(want)} columns lack their description: {wrong[:10]}"
    tables = served.frame(
        """select n.nspname as schema, c.relname as relation,
                  obj_description(c.oid, 'pg_class') as comment
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname in ('core', 'marts') and c.relkind in ('r', 'v', 'p')""")
    relation_comments = {(r.schema, r.relation): _text(r.comment) for r in tables.itertuples()}
    wrong = sorted(f"{s}.{t}" for (s, t), text in relations.items()
                   if text and relation_comments.get((s, t)) != text)
    assert not wrong, f"relations without their description: {wrong}"
