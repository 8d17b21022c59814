"""The Superset dashboards (bi/superset/bundle) against the served warehouse, logged in as
bi_reader as Superset is: every dataset's columns and metrics select, every chart's query (its
columns, metrics and filters, as Superset builds it) runs and answers, and every native filter
finds its values, the grain filter's default among them. (The bundle's own consistency:
tests/unit/test_superset_bundle.py.)
"""

from __future__ import annotations

import json

import pytest
import yaml

from crmwh.warehouse import roles
from crmwh_devkit import superset_bundle
from tests.support.databases import frame

BUNDLE = superset_bundle.BUNDLE


def _load(kind: str) -> dict[str, dict]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted((BUNDLE / kind).rglob("*.yaml"))}


DATASETS = {d["uuid"]: d for d in _load("datasets").values()}
CHARTS = _load("charts")
DASHBOARDS = _load("dashboards")


def source(dataset: dict) -> str:
    if dataset["sql"] is None:
        return f'{dataset["schema"]}.{dataset["table_name"]}'
    return f'({dataset["sql"]}) as virtual_table'


def _literal(value: object) -> str:
    return str(value) if isinstance(value, int | float) else "'" + str(value) + "'"


def where(params: dict) -> str:
    """The chart's simple adhoc filters as SQL (the operators the bundle uses)."""
    parts = []
    for f in params.get("adhoc_filters", []):
        op, value = f["operator"], f["comparator"]
        if op == "IN":
            parts.append(f'{f["subject"]} in ({", ".join(_literal(v) for v in value)})')
        else:
            parts.append(f'{f["subject"]} {"=" if op == "==" else op} {_literal(value)}')
    return (" where " + " and ".join(parts)) if parts else ""


def chart_sql(chart: dict) -> str:
    params, dataset = chart["params"], DATASETS[chart["dataset_uuid"]]
    expressions = {m["metric_name"]: m["expression"] for m in dataset["metrics"]}
    limit = f' limit {params.get("row_limit", 10000)}'
    if params.get("query_mode") == "raw":
        order = ", ".join(f'{c} {"asc" if up else "desc"}'
                          for c, up in map(json.loads, params["order_by_cols"]))
        return (f'select {", ".join(params["all_columns"])} from {source(dataset)}'
                f'{where(params)} order by {order}{limit}')
    dims = [params["x_axis"]] if params.get("x_axis") else []
    dims += list(params.get("groupby") or [])
    names = list(params.get("metrics") or []) + ([params["metric"]] if "metric" in params else [])
    measures = [f"{expressions[n]} as {n}" for n in names]
    group = f' group by {", ".join(dims)}' if dims else ""
    return (f'select {", ".join(dims + measures)} from {source(dataset)}'
            f'{where(params)}{group}{limit}')


@pytest.fixture(scope="module")
def bi(served) -> str:
    return served.login_dsn(roles.BI_READER)


@pytest.mark.parametrize("dataset", DATASETS.values(), ids=lambda d: d["table_name"])
def test_every_dataset_selects_its_columns_and_metrics_as_bi_reader(bi, dataset):
    columns = [c["column_name"] for c in dataset["columns"]]
    got = frame(bi, f'select {", ".join(columns)} from {source(dataset)} limit 5')
    assert list(got.columns) == columns and len(got), dataset["table_name"]
    metrics = ", ".join(f'{m["expression"]} as {m["metric_name"]}' for m in dataset["metrics"])
    got = frame(bi, f"select {metrics} from {source(dataset)}")
    assert int(got["count"][0]) > 0


@pytest.mark.parametrize("name", CHARTS)
def test_every_chart_query_runs_as_bi_reader_and_answers(bi, name):
    got = frame(bi, chart_sql(CHARTS[name]))
    assert len(got), f"{name}: no rows"


def test_every_native_filter_finds_its_values(bi):
    for dash in DASHBOARDS.values():
        for f in dash["metadata"]["native_filter_configuration"]:
            (target,) = f["targets"]
            column = target["column"]["name"]
            values = frame(bi, f"select distinct {column} from "
                               f"{source(DATASETS[target['datasetUuid']])}")[column]
            assert values.notna().sum() > 1, (dash["slug"], f["name"])
            default = f["defaultDataMask"]["filterState"].get("value") or []
            assert set(default) <= set(values), (dash["slug"], f["name"])
