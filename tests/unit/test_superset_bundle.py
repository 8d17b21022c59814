"""The Superset dashboards as code (bi/superset/bundle): current with their spec and the marts'
contracts, internally consistent the way Superset's import needs it (every uuid referenced
exists, every chart's columns and metrics are its dataset's, filters target real columns), and
the ones the dbt exposures name, at the urls the compose Superset serves. (Each dataset's SQL
run as bi_reader: tests/integration/test_superset_datasets.py; the compose service:
tests/unit/test_docker_compose.py.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from crmwh.settings import PROJECT_ROOT
from crmwh_devkit import superset_bundle

BUNDLE = superset_bundle.BUNDLE
EXPOSURES = PROJECT_ROOT / "dbt_project" / "models" / "marts" / "_exposures.yml"


def _load(folder: str) -> dict[str, dict]:
    files = sorted((BUNDLE / folder).rglob("*.yaml"))
    return {p.name: yaml.safe_load(p.read_text()) for p in files}


@pytest.fixture(scope="module")
def bundle() -> dict[str, dict[str, dict]]:
    return {kind: _load(kind) for kind in ("databases", "datasets", "charts", "dashboards")}


def chart_columns(params: dict) -> set[str]:
    """The dataset columns a chart's form data names."""
    cols = {params[k] for k in ("x_axis", "granularity_sqla") if params.get(k)}
    for key in ("groupby", "all_columns", "columns"):
        cols |= set(params.get(key) or [])
    cols |= {f["subject"] for f in params.get("adhoc_filters", [])
             if f["expressionType"] == "SIMPLE"}
    cols |= {json.loads(o)[0] for o in params.get("order_by_cols", [])}
    return cols


def chart_metrics(params: dict) -> set[str]:
    names = set(params.get("metrics") or [])
    return names | {params[k] for k in ("metric", "timeseries_limit_metric") if params.get(k)}


def marts_read(dataset: dict) -> set[str]:
    if dataset["sql"] is None:
        return {dataset["table_name"]}
    return set(re.findall(r"\bmarts\.(\w+)", dataset["sql"]))


def test_the_bundle_is_current_with_its_spec_and_the_marts_contracts():
    """Regenerate with `python -m crmwh_devkit.superset_bundle` when this fails."""
    expected = {rel: superset_bundle.render(c) for rel, c in superset_bundle.files().items()}
    found = {str(p.relative_to(BUNDLE)): p.read_text() for p in BUNDLE.rglob("*") if p.is_file()}
    assert sorted(found) == sorted(expected)
    stale = [rel for rel in expected if found[rel] != expected[rel]]
    assert not stale, f"stale: {stale}"


def test_every_reference_resolves(bundle):
    meta = yaml.safe_load((BUNDLE / "metadata.yaml").read_text())
    assert meta == {**meta, "version": "1.0.0", "type": "Dashboard"}
    uuids = [c["uuid"] for kind in bundle.values() for c in kind.values()]
    assert len(uuids) == len(set(uuids)), "a uuid used twice"
    databases = {d["uuid"] for d in bundle["databases"].values()}
    datasets = {d["uuid"]: d for d in bundle["datasets"].values()}
    charts = {c["uuid"]: c for c in bundle["charts"].values()}
    assert all(d["database_uuid"] in databases for d in datasets.values())
    assert all(c["dataset_uuid"] in datasets for c in charts.values())
    on_a_dashboard = set()
    for name, dash in bundle["dashboards"].items():
        cells = [c for c in dash["position"].values() if isinstance(c, dict)]
        by_id = {c["id"]: c for c in cells}
        placed = {c["meta"]["chartId"]: c["meta"]["uuid"] for c in cells if c["type"] == "CHART"}
        assert set(placed.values()) <= set(charts), name
        on_a_dashboard |= set(placed.values())
        for cell in cells:  # the layout is one tree under ROOT_ID
            for child in cell.get("children", []):
                assert by_id[child]["parents"][-1] == cell["id"], (name, child)
        for f in dash["metadata"]["native_filter_configuration"]:
            (target,) = f["targets"]
            dataset = datasets[target["datasetUuid"]]
            assert target["column"]["name"] in {c["column_name"] for c in dataset["columns"]}
            assert set(f["chartsInScope"]) | set(f["scope"]["excluded"]) == set(placed), name
            assert f["chartsInScope"], f"{name}: filter {f['name']} acts on no chart"
            for chart_id in f["chartsInScope"]:  # only where the chart's dataset has the column
                chart = charts[placed[chart_id]]
                columns = {c["column_name"] for c in datasets[chart["dataset_uuid"]]["columns"]}
                assert target["column"]["name"] in columns, (name, f["name"], chart_id)
    assert on_a_dashboard == set(charts), "a chart on no dashboard"


def test_every_chart_uses_columns_and_metrics_of_its_dataset(bundle):
    datasets = {d["uuid"]: d for d in bundle["datasets"].values()}
    for name, chart in bundle["charts"].items():
        dataset = datasets[chart["dataset_uuid"]]
        columns = {c["column_name"] for c in dataset["columns"]}
        metrics = {m["metric_name"] for m in dataset["metrics"]}
        assert chart["params"]["viz_type"] == chart["viz_type"]
        assert chart_columns(chart["params"]) <= columns, name
        assert chart_metrics(chart["params"]) <= metrics, name
        assert chart_columns(chart["params"]) or chart_metrics(chart["params"]), name


def test_the_datasets_read_the_marts_as_bi_reader_and_hold_no_secret(bundle):
    (database,) = bundle["databases"].values()
    uri = urlsplit(database["sqlalchemy_uri"])
    assert uri.username == "bi_reader" and uri.password == superset_bundle.PASSWORD_MASK
    assert not any(database[k] for k in ("allow_dml", "allow_ctas", "allow_cvas",
                                         "allow_file_upload"))
    marts = superset_bundle.mart_contracts()
    for name, dataset in bundle["datasets"].items():
        assert dataset["schema"] == "marts", name
        assert marts_read(dataset) and marts_read(dataset) <= set(marts), name
        if dataset["sql"]:  # a virtual dataset reads nothing but marts
            schemas = set(re.findall(r"\b(?:from|join)\s+(\w+)\.", dataset["sql"], re.I))
            assert schemas == {"marts"}, name
        assert dataset["main_dttm_col"] in {None} | {c["column_name"] for c in dataset["columns"]}


def test_the_exposures_name_the_dashboards_of_the_bundle(bundle):
    exposures = yaml.safe_load(EXPOSURES.read_text())["exposures"]
    datasets = {d["uuid"]: d for d in bundle["datasets"].values()}
    charts = {c["uuid"]: c for c in bundle["charts"].values()}
    slugs = {d["slug"]: d for d in bundle["dashboards"].values()}
    served = [e for e in exposures if e.get("url", "").startswith(superset_bundle.SUPERSET_URL)]
    assert {e["name"] for e in exposures if e["type"] == "dashboard"} - {
        "crm_nightly_report"} <= {e["name"] for e in served}
    assert len(served) == len(slugs), "every dashboard is named by an exposure, once"
    for exposure in served:
        slug = Path(urlsplit(exposure["url"]).path).name
        assert exposure["url"] == superset_bundle.dashboard_url(slug)
        dash = slugs[slug]
        read = set()
        for cell in dash["position"].values():
            if isinstance(cell, dict) and cell["type"] == "CHART":
                read |= marts_read(datasets[charts[cell["meta"]["uuid"]]["dataset_uuid"]])
        declared = {re.fullmatch(r"ref\('(\w+)'\)", d).group(1) for d in exposure["depends_on"]}
        assert declared == read, exposure["name"]
