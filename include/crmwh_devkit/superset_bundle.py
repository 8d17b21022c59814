"""The Superset dashboards the dbt exposures name, written as Superset's import bundle.

``python -m crmwh_devkit.superset_bundle`` (re)writes ``bi/superset/bundle/`` from the spec
below and from the marts' dbt contracts (each dataset's columns, types and descriptions come
from ``dbt_project/models/marts/**/_*__models.yml``, so a BI user sees dbt's docs): one file
per database, dataset, chart and dashboard, the layout Superset exports (``metadata.yaml``,
``databases/``, ``datasets/<database>/``, ``charts/``, ``dashboards/``). The compose service
``superset`` imports it at start-up (docker/superset/bootstrap.sh). Every dataset reads the
published ``marts`` as ``bi_reader``; tests/unit/test_superset_bundle.py checks the bundle is
current and consistent, tests/integration/test_superset_datasets.py runs its SQL as
``bi_reader``. UUIDs are derived from names, so a regenerated bundle is the same bundle.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from crmwh.settings import PROJECT_ROOT

BUNDLE = PROJECT_ROOT / "bi" / "superset" / "bundle"
MARTS_MODELS = PROJECT_ROOT / "dbt_project" / "models" / "marts"
SCHEMA = "marts"
DATABASE = "crm_warehouse"
# the password is filled in at import (docker/superset/bootstrap.sh): Superset's export mask
PASSWORD_MASK = "XXXXXXXXXX"
SQLALCHEMY_URI = f"postgresql+psycopg2://bi_reader:{PASSWORD_MASK}@postgres:5432/crm"
SUPERSET_URL = "http://localhost:8088"
VERSION = "1.0.0"
_NAMESPACE = uuid.UUID("6f1c7a52-3f0e-4c57-9a57-2f3c1e0b5d21")


def _uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


def dashboard_url(slug: str) -> str:
    """Where the compose Superset serves a dashboard (the exposures' url)."""
    return f"{SUPERSET_URL}/superset/dashboard/{slug}/"


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Dataset:
    """A physical dataset (a mart) or, with ``sql``, a virtual one; ``columns`` of a virtual
    dataset: (name, mart the column comes from, that mart's column name)."""

    name: str
    metrics: dict[str, str] = field(default_factory=dict)
    sql: str | None = None
    columns: tuple[tuple[str, str, str], ...] = ()
    dttm: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Chart:
    name: str
    dataset: str
    viz_type: str
    params: dict


@dataclass(frozen=True)
class Filter:
    """A native select filter on ``column`` (values from ``dataset``); it acts on every chart
    of the dashboard whose dataset has that column."""

    name: str
    dataset: str
    column: str
    default: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dashboard:
    exposure: str
    slug: str
    title: str
    description: str
    charts: tuple[Chart, ...]
    filters: tuple[Filter, ...]


def _ratio(part: str, whole: str) -> str:
    return f"SUM({part})::numeric / NULLIF(SUM({whole}), 0)"


def _weighted(value: str, weight: str) -> str:
    return f"SUM({value} * {weight}) / NULLIF(SUM({weight}), 0)"


def _sums(*columns: str) -> dict[str, str]:
    return {c: f"SUM({c})" for c in columns}


def _filter(column: str, operator: str, comparator: object) -> dict:
    return {"clause": "WHERE", "expressionType": "SIMPLE", "subject": column,
            "operator": operator, "comparator": comparator}


def _line(name: str, dataset: str, x: str, metrics: list[str], groupby: list[str] = (),
          filters: list[dict] = (), bar: bool = False) -> Chart:
    viz = "echarts_timeseries_bar" if bar else "echarts_timeseries_line"
    return Chart(name, dataset, viz, {
        "viz_type": viz, "x_axis": x, "time_grain_sqla": "P1M", "metrics": list(metrics),
        "groupby": list(groupby), "adhoc_filters": list(filters), "row_limit": 10000,
        "show_legend": True, "rich_tooltip": True, "y_axis_format": "SMART_NUMBER"})


def _bar(name: str, dataset: str, x: str, metrics: list[str],
         filters: list[dict] = ()) -> Chart:
    """Bars over a category (not over time)."""
    return Chart(name, dataset, "echarts_timeseries_bar", {
        "viz_type": "echarts_timeseries_bar", "x_axis": x, "metrics": list(metrics),
        "groupby": [], "adhoc_filters": list(filters), "row_limit": 1000,
        "x_axis_sort_asc": True, "show_legend": True, "y_axis_format": "SMART_NUMBER"})


def _table(name: str, dataset: str, groupby: list[str], metrics: list[str],
           filters: list[dict] = (), row_limit: int = 1000) -> Chart:
    return Chart(name, dataset, "table", {
        "viz_type": "table", "query_mode": "aggregate", "groupby": list(groupby),
        "metrics": list(metrics), "adhoc_filters": list(filters), "row_limit": row_limit,
        "order_desc": True, "timeseries_limit_metric": metrics[0]})


def _rows(name: str, dataset: str, columns: list[str], order_by: str, ascending: bool,
          filters: list[dict] = (), row_limit: int = 1000) -> Chart:
    return Chart(name, dataset, "table", {
        "viz_type": "table", "query_mode": "raw", "all_columns": list(columns),
        "order_by_cols": [f'["{order_by}", {str(ascending).lower()}]'],
        "adhoc_filters": list(filters), "row_limit": row_limit})


def _pie(name: str, dataset: str, groupby: str, metric: str) -> Chart:
    return Chart(name, dataset, "pie", {
        "viz_type": "pie", "groupby": [groupby], "metric": metric, "adhoc_filters": [],
        "row_limit": 100, "show_legend": True, "show_labels": True, "label_type": "key_percent"})


def _number(name: str, dataset: str, metric: str) -> Chart:
    return Chart(name, dataset, "big_number_total", {
        "viz_type": "big_number_total", "metric": metric, "adhoc_filters": [],
        "y_axis_format": ".1%"})


_SALES_DAILY = ("order_date", "order_year", "order_month", "customer_key", "company_name",
                "customer_type", "department", "channel", "orders_count", "lines_count",
                "quantity", "net_revenue", "cost_amount", "gross_margin")
_CHURN = ("month_start", "month_end", "is_partial_month", "customers_at_start",
          "churned_customers", "voluntary_churned_customers", "involuntary_churned_customers",
          "retained_customers", "churn_rate", "retention_rate")
_CHURN_METRICS = {"churn_rate": _ratio("churned_customers", "customers_at_start"),
                  "retention_rate": _ratio("retained_customers", "customers_at_start"),
                  **_sums("customers_at_start", "churned_customers")}
_LOOKUP = (("customer_key", "d"), ("sales_customer_id", "d"), ("customer_name", "d"),
           ("customer_type", "d"), ("city", "d"), ("acquisition_channel", "d"),
           ("sales_rep_name", "d"), ("email_masked", "d"), ("phone_masked", "d"),
           ("orders_count", "d"), ("last_order_date", "d"), ("tickets_count", "d"),
           ("value_tier", "v"), ("value_rank", "v"), ("rfm_segment", "v"),
           ("credit_grade", "v"), ("clv_predicted", "v"), ("churn_score", "r"),
           ("risk_band", "r"), ("winback_action", "r"))
_LOOKUP_MART = {"d": "mart_customer_directory", "v": "mart_customer_value",
                "r": "mart_customer_churn_risk"}


def _churn_by(column: str, breakdown: str) -> Dataset:
    return Dataset(
        f"churn_by_{column}", dict(_CHURN_METRICS), dttm="month_start",
        description=f"mart_churn_monthly's breakdown {breakdown}, the segment as {column}.",
        sql=(f"select {', '.join(_CHURN)}, segment as {column}\n"
             f"from marts.mart_churn_monthly\nwhere breakdown = '{breakdown}'"),
        columns=(*((c, "mart_churn_monthly", c) for c in _CHURN),
                 (column, "mart_churn_monthly", "segment")))


DATASETS: tuple[Dataset, ...] = (
    Dataset("mart_customer_value", {"customers": "COUNT(*)", **_sums("net_profit", "revenue")},
            dttm="as_of_date"),
    Dataset("mart_value_tiers", {"value_contribution_rate": "MAX(value_contribution_rate)",
                                 **_sums("customers", "value")}, dttm="month_end"),
    Dataset("mart_concentration", {"top5_share": "MAX(top5_share)", "hhi": "MAX(hhi)"},
            dttm="month_end"),
    Dataset("mart_profitability_by_size", _sums("net_profit", "customers", "revenue")),
    Dataset("mart_customer_share", {"customer_share": "MAX(customer_share)"}),
    Dataset("mart_churn_monthly", dict(_CHURN_METRICS), dttm="month_start"),
    _churn_by("value_tier", "value_tier"),
    _churn_by("acquisition_channel", "acquisition_channel"),
    Dataset("mart_cohort_retention",
            {"retention_rate": _ratio("retained_customers", "cohort_size")}, dttm="month_start"),
    Dataset("mart_crm_kpis", _sums("new_customers", "lost_customers", "upgraded_customers",
                                   "total_net_profit"), dttm="month_start"),
    Dataset("mart_customer_churn_risk", {"customers": "COUNT(*)",
                                         **_sums("expected_value_saved")}, dttm="as_of_date"),
    Dataset("sales_daily_by_tier", _sums("net_revenue", "gross_margin", "quantity"),
            dttm="order_date",
            description="mart_sales_daily with each customer's current value tier "
                        "(mart_customer_value).",
            sql=("select s.*, v.value_tier\nfrom marts.mart_sales_daily as s\n"
                 "left join marts.mart_customer_value as v on v.customer_key = s.customer_key"),
            columns=(*((c, "mart_sales_daily", c) for c in _SALES_DAILY),
                     ("value_tier", "mart_customer_value", "value_tier"))),
    Dataset("mart_sales_report", _sums("net_revenue", "gross_margin", "quantity"),
            dttm="period_start"),
    Dataset("mart_service_monthly", {
        **_sums("tickets", "complaints", "overdue_open_tickets", "overdue_open_complaints"),
        "sla_rate": _ratio("responded_within_sla", "sla_due_tickets"),
        "satisfaction_c": _weighted("avg_satisfaction_c", "surveys"),
        "nps": _weighted("nps", "nps_answers")}, dttm="month_start"),
    Dataset("mart_service_root_causes", _sums("complaints"), dttm="month_start"),
    Dataset("mart_service_agents", {**_sums("tickets", "complaints"),
                                    "sla_rate": _ratio("responded_within_sla",
                                                       "sla_due_tickets")},
            dttm="month_start"),
    Dataset("mart_service_customers", {
        "customers": "COUNT(*)", **_sums("tickets", "complaints"),
        "late_first_response_share": _ratio("sla_missed_tickets", "sla_due_tickets")}),
    Dataset("customer_lookup", {"customers": "COUNT(*)"},
            description="One customer: directory (contacts masked), value and churn risk.",
            sql=("select\n    " + ",\n    ".join(f"{t}.{c}" for c, t in _LOOKUP)
                 + "\nfrom marts.mart_customer_directory as d\n"
                 "left join marts.mart_customer_value as v on v.customer_key = d.customer_key\n"
                 "left join marts.mart_customer_churn_risk as r\n"
                 "    on r.customer_key = d.customer_key and r.as_of_date = d.as_of_date"),
            columns=tuple((c, _LOOKUP_MART[t], c) for c, t in _LOOKUP)),
)

_TOP = [_filter("value_rank", "<=", 20)]
_ALL = [_filter("breakdown", "==", "all")]

DASHBOARDS: tuple[Dashboard, ...] = (
    Dashboard(
        "customer_value_dashboard", "customer-value", "Customer value",
        "Value tiers and their value contribution, concentration, current x potential value, "
        "profitability by size band, customer share (DOMAIN §2).",
        (_line("Value contribution by tier", "mart_value_tiers", "month_end",
               ["value_contribution_rate"], ["value_tier"]),
         _pie("Customers per tier", "mart_customer_value", "value_tier", "customers"),
         _rows("Most valuable customers (top 20)", "mart_customer_value",
               ["value_rank", "customer_name", "value_tier", "value_share", "net_profit",
                "revenue_12m", "rfm_segment", "value_quadrant_en", "clv_predicted",
                "acquisition_channel"], "value_rank", True, _TOP),
         _table("Current x potential value", "mart_customer_value", ["value_quadrant_en"],
                ["customers", "net_profit"]),
         _line("Concentration: top-5 share and HHI", "mart_concentration", "month_end",
               ["top5_share", "hhi"]),
         _bar("Net profit by size band", "mart_profitability_by_size", "size_band",
              ["net_profit", "customers"]),
         _number("Customer share", "mart_customer_share", "customer_share")),
        (Filter("Tier", "mart_customer_value", "value_tier"),
         Filter("Channel", "mart_customer_value", "acquisition_channel"),
         Filter("Month", "mart_value_tiers", "month_end"))),
    Dashboard(
        "churn_dashboard", "churn", "Churn and retention",
        "Monthly churn and retention, by tier and by acquisition channel, cohort retention, "
        "CRM KPIs per tier and the customers at risk with their win-back action (DOMAIN §4).",
        (_line("Churn and retention rate, all customers", "mart_churn_monthly", "month_start",
               ["churn_rate", "retention_rate"], filters=_ALL),
         _line("Churn rate by tier", "churn_by_value_tier", "month_start", ["churn_rate"],
               ["value_tier"]),
         _line("Churn rate by acquisition channel", "churn_by_acquisition_channel",
               "month_start", ["churn_rate"], ["acquisition_channel"]),
         _table("Cohort retention", "mart_cohort_retention",
                ["cohort_month", "months_since_acquisition"], ["retention_rate"],
                row_limit=10000),
         _line("New, lost and upgraded customers", "mart_crm_kpis", "month_start",
               ["new_customers", "lost_customers", "upgraded_customers"], bar=True),
         _rows("Customers at risk", "mart_customer_churn_risk",
               ["customer_name", "value_tier", "churn_score", "risk_band", "reason_1",
                "reason_2", "reason_3", "winback_action", "expected_value_saved",
                "allowed_save_budget"], "churn_score", False,
               [_filter("risk_band", "IN", ["high", "medium"])])),
        (Filter("Tier", "mart_crm_kpis", "value_tier"),
         Filter("Channel", "churn_by_acquisition_channel", "acquisition_channel"),
         Filter("Month", "mart_churn_monthly", "month_start"))),
    Dashboard(
        "sales_dashboard", "sales", "Sales report",
        "Sales per year, month or day by company, department and channel (DOMAIN §7).",
        (_line("Revenue and gross margin per month", "sales_daily_by_tier", "order_date",
               ["net_revenue", "gross_margin"]),
         _bar("Revenue by channel", "sales_daily_by_tier", "channel",
              ["net_revenue", "gross_margin"]),
         _pie("Revenue by department", "sales_daily_by_tier", "department", "net_revenue"),
         _table("Sales by company and department", "sales_daily_by_tier",
                ["company_name", "department"], ["net_revenue", "gross_margin", "quantity"]),
         _table("Sales report (pick the grain)", "mart_sales_report",
                ["period_start", "company_name", "department"],
                ["net_revenue", "gross_margin", "quantity"], row_limit=10000)),
        (Filter("Tier", "sales_daily_by_tier", "value_tier"),
         Filter("Channel", "sales_daily_by_tier", "channel"),
         Filter("Month", "sales_daily_by_tier", "order_month"),
         Filter("Grain", "mart_sales_report", "grain", ("month",)))),
    Dashboard(
        "service_dashboard", "service", "Service desk",
        "Tickets and complaints per month, first-response SLA rate (24 h), overdue open "
        "tickets to escalate, satisfaction and NPS, complaint root causes, agents and service "
        "by value tier (DOMAIN §6).",
        (_line("Tickets and complaints per month", "mart_service_monthly", "month_start",
               ["tickets", "complaints"], bar=True),
         _line("First-response SLA rate (24 h)", "mart_service_monthly", "month_start",
               ["sla_rate"]),
         _line("Satisfaction and NPS", "mart_service_monthly", "month_start",
               ["satisfaction_c", "nps"]),
         _table("Overdue open tickets to escalate", "mart_service_monthly",
                ["priority", "ticket_type"], ["overdue_open_tickets", "overdue_open_complaints"],
                [_filter("overdue_open_tickets", ">", 0)]),
         _line("Complaint root causes", "mart_service_root_causes", "month_start",
               ["complaints"], ["root_cause"], bar=True),
         _table("Agents", "mart_service_agents", ["agent"], ["tickets", "sla_rate"]),
         _table("Service by value tier", "mart_service_customers", ["value_tier"],
                ["customers", "tickets", "complaints", "late_first_response_share"])),
        (Filter("Tier", "mart_service_customers", "value_tier"),
         Filter("Channel", "mart_service_monthly", "channel"),
         Filter("Month", "mart_service_monthly", "month_start"))),
    Dashboard(
        "customer_lookup", "customer-lookup", "Customer 360 lookup",
        "One customer: contact details masked, relationship counters, value, tier, RFM, "
        "credit grade and churn risk. Pick the customer in the filter bar.",
        (_rows("Customer", "customer_lookup", [c for c, _ in _LOOKUP], "customer_name", True,
               row_limit=100),),
        (Filter("Customer", "customer_lookup", "customer_name"),
         Filter("Tier", "customer_lookup", "value_tier"),
         Filter("Channel", "customer_lookup", "acquisition_channel"))),
)


# --------------------------------------------------------------------------- rendering


def mart_contracts() -> dict[str, dict[str, dict]]:
    """mart -> column -> its dbt spec (data_type, description), in contract order."""
    marts: dict[str, dict[str, dict]] = {}
    for path in sorted(MARTS_MODELS.rglob("_*__models.yml")):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            marts[model["name"]] = {c["name"]: c for c in model.get("columns", [])}
    return marts


def _dbt_doc_free(text: str) -> str:
    """A description without dbt's doc() calls (Superset shows plain text)."""
    while "{{" in text and "}}" in text:
        start, end = text.index("{{"), text.index("}}") + 2
        text = (text[:start] + text[end:]).strip()
    return " ".join(text.split())


def _column(name: str, spec: dict, dttm: str | None) -> dict:
    kind = str(spec["data_type"]).upper()
    return {"column_name": name, "verbose_name": None,
            "is_dttm": kind in ("DATE", "TIMESTAMP", "TIMESTAMPTZ") or name == dttm,
            "is_active": True, "type": kind, "advanced_data_type": None, "groupby": True,
            "filterable": True, "expression": None,
            "description": _dbt_doc_free(spec.get("description") or "") or None,
            "python_date_format": None, "extra": None}


def dataset_file(ds: Dataset, marts: dict[str, dict[str, dict]]) -> dict:
    if ds.sql is None:
        columns = [_column(n, s, ds.dttm) for n, s in marts[ds.name].items()]
    else:
        columns = [_column(n, marts[mart][source], ds.dttm) for n, mart, source in ds.columns]
    metrics = [{"metric_name": name, "verbose_name": name.replace("_", " "),
                "metric_type": None, "expression": expression, "description": None,
                "d3format": None, "currency": None, "extra": None, "warning_text": None}
               for name, expression in {"count": "COUNT(*)", **ds.metrics}.items()]
    return {"table_name": ds.name, "main_dttm_col": ds.dttm,
            "description": ds.description or None, "default_endpoint": None, "offset": 0,
            "cache_timeout": None, "catalog": None, "schema": SCHEMA, "sql": ds.sql,
            "params": None, "template_params": None, "filter_select_enabled": True,
            "fetch_values_predicate": None, "extra": None, "normalize_columns": False,
            "always_filter_main_dttm": False, "uuid": _uuid("dataset", ds.name),
            "metrics": metrics, "columns": columns, "version": VERSION,
            "database_uuid": _uuid("database", DATABASE)}


def chart_file(chart: Chart) -> dict:
    return {"slice_name": chart.name, "description": None, "certified_by": None,
            "certification_details": None, "viz_type": chart.viz_type,
            "params": dict(chart.params), "query_context": None, "cache_timeout": None,
            "uuid": _uuid("chart", chart.name), "version": VERSION,
            "dataset_uuid": _uuid("dataset", chart.dataset)}


def _chart_ids(dash: Dashboard, first: int) -> dict[str, int]:
    """The ids the export's layout and filter scopes use (import maps them by uuid)."""
    return {c.name: first + i for i, c in enumerate(dash.charts)}


def _position(dash: Dashboard, ids: dict[str, int]) -> dict:
    position: dict = {"DASHBOARD_VERSION_KEY": "v2",
                      "ROOT_ID": {"children": ["GRID_ID"], "id": "ROOT_ID", "type": "ROOT"},
                      "HEADER_ID": {"id": "HEADER_ID", "meta": {"text": dash.title},
                                    "type": "HEADER"},
                      "GRID_ID": {"children": [], "id": "GRID_ID", "parents": ["ROOT_ID"],
                                  "type": "GRID"}}
    width = 12 if len(dash.charts) == 1 else 6
    for i, chart in enumerate(dash.charts):
        row = f"ROW-{i // 2}"
        if row not in position:
            position["GRID_ID"]["children"].append(row)
            position[row] = {"children": [], "id": row,
                             "meta": {"background": "BACKGROUND_TRANSPARENT"},
                             "parents": ["ROOT_ID", "GRID_ID"], "type": "ROW"}
        key = f"CHART-{ids[chart.name]}"
        position[row]["children"].append(key)
        position[key] = {"children": [], "id": key,
                         "meta": {"chartId": ids[chart.name], "height": 50,
                                  "sliceName": chart.name, "uuid": _uuid("chart", chart.name),
                                  "width": width},
                         "parents": ["ROOT_ID", "GRID_ID", row], "type": "CHART"}
    return position


def _native_filter(dash: Dashboard, f: Filter, ids: dict[str, int],
                   columns: dict[str, set[str]]) -> dict:
    in_scope = [ids[c.name] for c in dash.charts if f.column in columns[c.dataset]]
    value = list(f.default) or None
    return {"id": f"NATIVE_FILTER-{dash.slug.replace('-', '')}{f.name.lower()}",
            "name": f.name, "filterType": "filter_select", "type": "NATIVE_FILTER",
            "description": f"{f.column} of {f.dataset}; acts on the charts whose dataset has it.",
            "targets": [{"column": {"name": f.column}, "datasetUuid": _uuid("dataset", f.dataset)}],
            "controlValues": {"enableEmptyFilter": bool(f.default),
                              "defaultToFirstItem": False, "multiSelect": not f.default,
                              "searchAllOptions": False, "inverseSelection": False},
            "defaultDataMask": {
                "extraFormData": ({"filters": [{"col": f.column, "op": "IN", "val": value}]}
                                  if value else {}),
                "filterState": {"value": value} if value else {}, "ownState": {}},
            "cascadeParentIds": [],
            "scope": {"rootPath": ["ROOT_ID"],
                      "excluded": [i for i in ids.values() if i not in in_scope]},
            "chartsInScope": in_scope, "tabsInScope": []}


def dashboard_file(dash: Dashboard, first_id: int, columns: dict[str, set[str]]) -> dict:
    ids = _chart_ids(dash, first_id)
    return {"dashboard_title": dash.title, "description": dash.description, "css": "",
            "slug": dash.slug, "certified_by": None, "certification_details": None,
            "published": True, "uuid": _uuid("dashboard", dash.slug),
            "position": _position(dash, ids),
            "metadata": {"native_filter_configuration": [
                             _native_filter(dash, f, ids, columns) for f in dash.filters],
                         "chart_configuration": {},
                         "global_chart_configuration": {
                             "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                             "chartsInScope": sorted(ids.values())},
                         "color_scheme": "supersetColors", "label_colors": {},
                         "shared_label_colors": [], "color_scheme_domain": [],
                         "cross_filters_enabled": True, "refresh_frequency": 0,
                         "expanded_slices": {}, "timed_refresh_immune_slices": [],
                         "default_filters": "{}"},
            "version": VERSION}


def database_file() -> dict:
    return {"database_name": DATABASE, "sqlalchemy_uri": SQLALCHEMY_URI, "cache_timeout": None,
            "expose_in_sqllab": True, "allow_run_async": False, "allow_ctas": False,
            "allow_cvas": False, "allow_dml": False, "allow_file_upload": False,
            "extra": {"allows_virtual_table_explore": True, "metadata_params": {},
                      "engine_params": {}, "schemas_allowed_for_file_upload": []},
            "impersonate_user": False, "uuid": _uuid("database", DATABASE),
            "version": VERSION}


def files() -> dict[str, dict]:
    """Every file of the bundle: relative path -> content."""
    marts = mart_contracts()
    out: dict[str, dict] = {"metadata.yaml": {"version": VERSION, "type": "Dashboard",
                                              "timestamp": "2026-01-01T00:00:00+00:00"},
                            f"databases/{DATABASE}.yaml": database_file()}
    columns: dict[str, set[str]] = {}
    for ds in DATASETS:
        content = dataset_file(ds, marts)
        columns[ds.name] = {c["column_name"] for c in content["columns"]}
        out[f"datasets/{DATABASE}/{ds.name}.yaml"] = content
    for n, dash in enumerate(DASHBOARDS):
        for chart in dash.charts:
            out[f"charts/{_file_name(chart.name)}.yaml"] = chart_file(chart)
        out[f"dashboards/{dash.slug.replace('-', '_')}.yaml"] = dashboard_file(
            dash, 100 * (n + 1), columns)
    return out


def _file_name(title: str) -> str:
    return "_".join("".join(ch if ch.isalnum() else " " for ch in title).split()).lower()


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (a virtual dataset's SQL) as literal blocks, as they read."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def render(content: dict) -> str:
    return yaml.dump(content, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def write(folder: Path = BUNDLE) -> list[Path]:
    """Write the bundle to ``folder`` (replacing what is there); return the files."""
    if folder.exists():
        shutil.rmtree(folder)
    written = []
    for relative, content in files().items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(content))
        written.append(path)
    return written


if __name__ == "__main__":
    print(f"{len(write())} files written to {BUNDLE.relative_to(PROJECT_ROOT)}")
