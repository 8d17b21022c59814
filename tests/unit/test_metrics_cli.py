"""``crmwh metrics``: a question becomes the right ``mf query`` (names qualified, the churn
breakdown picked), and a wrong name is one line, exit 2 — on a small semantic manifest of the
shape dbt writes (the real one is checked against the marts in
tests/integration/test_metrics_layer.py)."""

from __future__ import annotations

import pytest

from crmwh.cli import metrics
from crmwh.errors import CrmwhError


def _model(name: str, measures: list[str], dims: list[str], primary: str | None = None,
           entities: list[dict] | None = None) -> dict:
    return {"name": name, "primary_entity": primary, "entities": entities or [],
            "measures": [{"name": m} for m in measures],
            "dimensions": [{"name": "month_start", "type": "time"}]
            + [{"name": d, "type": "categorical"} for d in dims]}


def _metric(name: str, *measures: str) -> dict:
    return {"name": name, "description": f"{name}  defined\n once",
            "type_params": {"input_measures": [{"name": m} for m in measures]}}


MANIFEST = {
    "semantic_models": [
        _model("customer_kpis", ["lost", "base"], ["value_tier"], primary="kpi_month"),
        _model("churn", ["churned", "churn_base"], ["breakdown", "segment"],
               primary="churn_month"),
        _model("sales", ["net_revenue"], ["channel"], primary="sales_day",
               entities=[{"name": "customer", "type": "foreign"}]),
        _model("customer_value", ["clv"], ["value_tier"],
               entities=[{"name": "customer", "type": "primary"}]),
    ],
    "metrics": [_metric("lost_customer_rate", "lost", "base"),
                _metric("churn_rate", "churned", "churn_base"),
                _metric("revenue", "net_revenue"), _metric("average_clv", "clv")],
}


def test_dimensions_are_qualified_and_time_grains_become_metric_time():
    q = metrics.plan(MANIFEST, *metrics.parse_question("lost_customer_rate by value_tier, month"))
    assert q.group_by == ["kpi_month__value_tier", "metric_time__month"]
    assert q.where == []
    assert q.args() == ["--metrics", "lost_customer_rate",
                        "--group-by", "kpi_month__value_tier,metric_time__month",
                        "--order", "metric_time__month,kpi_month__value_tier"]
    assert q.shown == {"kpi_month__value_tier": "value_tier", "metric_time__month": "month"}


def test_a_dimension_of_a_joined_model_goes_through_its_entity():
    q = metrics.plan(MANIFEST, ["revenue"], ["value_tier", "year"])
    assert q.group_by == ["customer__value_tier", "metric_time__year"]


def test_churn_metrics_pick_their_breakdown():
    by_tier = metrics.plan(MANIFEST, ["churn_rate"], ["value_tier", "month"])
    assert by_tier.group_by == ["churn_month__segment", "metric_time__month"]
    assert by_tier.where == ["{{ Dimension('churn_month__breakdown') }} = 'value_tier'"]
    assert by_tier.shown["churn_month__segment"] == "value_tier"
    overall = metrics.plan(MANIFEST, ["churn_rate"], ["month"])
    assert overall.where == ["{{ Dimension('churn_month__breakdown') }} = 'all'"]


@pytest.mark.parametrize(("question", "message"), [
    ("churn_ratio by month", "unknown metric(s): churn_ratio"),
    ("revenue by region", "revenue cannot be grouped by 'region'"),
    ("churn_rate by channel", "churn_rate cannot be grouped by 'channel'"),
    (" by month", "no metric in"),
])
def test_a_wrong_name_is_a_user_error(question, message):
    with pytest.raises(CrmwhError, match=message.replace("(", r"\(").replace(")", r"\)")):
        metrics.plan(MANIFEST, *metrics.parse_question(question))


def test_the_list_shows_each_metric_once_with_its_definition():
    assert metrics.describe(MANIFEST)[1] == ("churn_rate", "churn_rate defined once")


def test_counts_print_as_integers_and_fractions_stay():
    rows = [("key", 11.0, 0.25, 3.0, None), ("normal", 2.0, 0.5, 1.5, 4)]
    assert metrics.whole_numbers(rows) == [("key", 11, 0.25, 3.0, None),
                                           ("normal", 2, 0.5, 1.5, 4)]
    assert metrics.whole_numbers([]) == []
