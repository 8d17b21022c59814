"""The churn model and marts on the served warehouse (tests/support/served.py, the nightly's
build on the session's generated data): the nightly fit wrote ml.churn_scores and
audit.model_runs, the churn marts build and agree with the scores and with DOMAIN §4
identities, and the backtest CLI compares the model with a recency-only baseline against the
generator's ground truth (which nothing but the backtest reads). The backtest only adds its
own audit.model_runs row."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from crmwh import cli, database
from crmwh.churn import backtest, nightly, train
from crmwh.settings import dbt_vars
from tests.support.demo import LAST_DAY

EARLY_WARNING = dbt_vars()["churn_early_warning_score"]  # read, never copied


@pytest.fixture(scope="module")
def warehouse(served):
    """The served warehouse and what its model fit returned; the CLI's warehouse is it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_WAREHOUSE_DSN", served.dsn)
        yield served, served.fitted


def test_nightly_fit_scores_the_active_base_and_records_the_run(warehouse):
    wh, fitted = warehouse
    churn = fitted["churn"]
    assert churn["status"] == "fitted", churn
    scores = wh.frame(f"select * from ml.churn_scores where as_of_date = '{LAST_DAY}'")
    assert len(scores) == churn["rows_written"] > 0
    assert scores["score"].between(0, 1).all()
    assert scores["customer_key"].is_unique
    # nobody scored is churned (and not back) on the as-of date
    churned_now = wh.frame(f"""select customer_key from core.fct_churn_events
        where churn_date <= '{LAST_DAY}' and returned_on is null""")
    assert not set(scores["customer_key"]) & set(churned_now["customer_key"])
    run = wh.frame("select * from audit.model_runs where model = 'churn'")
    assert len(run) == 1
    metrics, params = run["metrics"][0], run["params"][0]
    assert metrics["training"]["rows"] > 0
    # every candidate validated out of fold; the chosen one has the best ROC AUC
    validation = metrics["validation"]
    assert set(validation) == {"churn_gbm", "churn_logistic", "bgnbd_no_purchase"}
    assert params["chosen"] == metrics["chosen"] == max(validation,
                                                        key=lambda n: validation[n]["auc"])
    assert (scores["scored_by"] == params["chosen"]).all()
    # P(alive) is never shown for a one-time buyer; P(no purchase) is there for every buyer
    assert scores.loc[scores["repeat_purchases"] == 0, "p_alive"].isna().all()
    buyers = scores["last_order_date"].notna()
    assert scores.loc[buyers, "p_no_purchase"].between(0, 1).all()


def test_risk_mart_matches_the_scores(warehouse):
    wh, _ = warehouse
    risk = wh.frame("select * from marts.mart_customer_churn_risk")
    scores = wh.frame(f"select customer_key, score, reason_1 from ml.churn_scores "
                         f"where as_of_date = '{LAST_DAY}'")
    assert len(risk) == len(scores)
    merged = risk.merge(scores, on="customer_key")
    assert (merged["churn_score"].astype(float) - merged["score"]).abs().max() < 1e-6
    assert (merged["reason_1_x"].fillna("") == merged["reason_1_y"].fillna("")).all()
    assert set(risk["winback_action"]) <= {"excluded", "utmost", "best_effort", "case_by_case",
                                           "let_go"}
    assert (risk["allowed_save_budget"] <= risk["expected_value_saved"]).all()
    key = risk[risk["value_tier"] == "key"]
    assert (key["winback_action"].isin(["utmost", "excluded"])).all()
    early = risk["churn_score"].astype(float).ge(EARLY_WARNING)
    assert (risk["is_early_warning"] == (risk["value_tier"].eq("key") & early)).all()


def test_monthly_churn_retention_and_kpis_agree(warehouse):
    wh, _ = warehouse
    monthly = wh.frame("select * from marts.mart_churn_monthly")
    assert (monthly["churn_rate"] + monthly["retention_rate"] == 1).all()
    overall = monthly[monthly["breakdown"] == "all"].set_index("month_start")
    # every breakdown splits the same base and the same churn
    for name, part in monthly[monthly["breakdown"] != "all"].groupby("breakdown"):
        sums = part.groupby("month_start")[["customers_at_start", "churned_customers"]].sum()
        pd.testing.assert_frame_equal(
            sums, overall.loc[sums.index, ["customers_at_start", "churned_customers"]],
            check_names=False, obj=name)
    events = wh.frame(f"""select date_trunc('month', churn_date)::date as m, count(*) as n
        from core.fct_churn_events where churn_date <= '{LAST_DAY}' group by 1""")
    assert overall["churned_customers"].sum() <= events["n"].sum()
    kpis = wh.frame("select * from marts.mart_crm_kpis")
    tiers = monthly[monthly["breakdown"] == "value_tier"]
    joined = kpis.merge(tiers, left_on=["month_start", "value_tier"],
                        right_on=["month_start", "segment"])
    assert (joined["lost_customers"] == joined["churned_customers"]).all()
    cohorts = wh.frame("select * from marts.mart_cohort_retention")
    assert (cohorts[cohorts["months_since_acquisition"] == 0]["retention_rate"] > 0.9).all()


def test_backtest_cli_compares_the_model_with_the_baselines(warehouse, capsys):
    wh, _ = warehouse
    dates = ["2025-09-01", "2025-10-01", "2025-11-01", "2025-12-01"]
    args = ["backtest-churn", "--run-id", "test-backtest", "--json"]
    for d in dates:
        args += ["--date", d]
    assert cli.main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    row = wh.frame("select * from audit.model_runs where model = 'churn_backtest'")
    assert len(row) == 1
    summary = row["metrics"][0]["summary"]
    per_date = row["metrics"][0]["per_date"]
    assert printed["summary"] == summary
    print("\nchurn backtest on the test data:",
          json.dumps({k: {m: v.get(m) for m in ("auc", "pr_auc", "lift10", "brier")}
                      for k, v in summary["scores"].items()}, indent=1))
    assert [p["as_of_date"] for p in per_date] == dates
    for p in per_date:
        assert p["evaluated"] > 0 and p["positives"] > 0
        assert set(p["scores"]) >= {"model", "recency", "rfm", "bgnbd_p_no_purchase",
                                    "bgnbd_expected_purchases", "base_rate"}
        # probabilities are judged on every scored customer, those already gone counted
        # positive: the constant event rate has Brier = rate (1 - rate), no ranking
        rate = (p["positives"] + p["already_gone"]) / p["scored"]
        assert p["event_rate"] == pytest.approx(rate)
        assert p["scores"]["base_rate"]["brier"] == pytest.approx(rate * (1 - rate))
        assert p["scores"]["base_rate"]["auc"] == pytest.approx(0.5)
        # the training period's base rate applied to T: Brier = rate (1 - rate) + (past - rate)^2
        past = p["past_rate"]
        assert 0 < past < 1
        assert p["scores"]["past_rate"]["brier"] == pytest.approx(rate * (1 - rate)
                                                                  + (past - rate) ** 2)
        for fig in p["scores"].values():
            assert 0 <= fig["auc"] <= 1 and 0 <= fig["pr_auc"] <= 1
    table = summary["scores"]["model"]["calibration"]
    assert sum(b["rows"] for b in table) == sum(p["scored"] for p in per_date)
    # deterministic data (seed 7) and fit: the model beats recency and the purchase model
    model = summary["scores"]["model"]
    for baseline in ("recency", "bgnbd_p_no_purchase"):
        assert model["auc"] > summary["scores"][baseline]["auc"], baseline
        assert model["lift10"] > summary["scores"][baseline]["lift10"], baseline
    assert summary["beats_base_rate_brier"] == (model["brier"]
                                                < summary["scores"]["past_rate"]["brier"])
    # the nightly now scores with what this backtest picked: a learned candidate that beats
    # every baseline, else the best baseline
    with database.connect(wh.dsn) as conn:
        prefer, how = nightly.backtest_choice(conn, LAST_DAY)
    assert prefer == summary["pick"] == backtest.pick(summary["scores"])[0]
    assert "test-backtest" in how and summary["pick_reason"] in how
    print("\npicked:", prefer, how)


# what the churn fit reads, and the column dating each row
DATED = {"core.fct_orders": "order_date", "core.fct_tickets": "created_on",
         "core.fct_surveys": "answered_on", "core.fct_receivables_daily": "date_day",
         "core.dim_contract": "start_date", "core.dim_customer": "valid_from",
         "core.fct_churn_events": "churn_date"}


def test_scores_at_a_past_date_use_nothing_after_it(warehouse):
    """Scoring 2025-11-01 from today's warehouse gives exactly what a warehouse holding
    nothing dated after it gives (the rows removed in a transaction rolled back afterwards):
    features, training labels and scores are point in time."""
    wh, _ = warehouse
    t = date(2025, 11, 1)
    with database.connect(wh.dsn) as conn:
        today = train.fit_and_score(conn, t)
        conn.rollback()
        with conn.transaction(force_rollback=True):
            for table, column in DATED.items():
                conn.execute(f"delete from {table} where {column} > %s", (t,))
            conn.execute("update core.fct_churn_events set returned_on = null "
                         "where returned_on > %s", (t,))
            then = train.fit_and_score(conn, t)
    assert today.training == then.training and today.chosen == then.chosen
    columns = ["customer_key", "score", "reason_1", "p_no_purchase", "orders_90d",
               "complaints_90d", "overdue_amount", "satisfaction_c", "last_order_date"]
    pd.testing.assert_frame_equal(today.frame[columns].reset_index(drop=True),
                                  then.frame[columns].reset_index(drop=True))


def test_bench_scales_a_copy_and_leaves_the_warehouse_alone(warehouse):
    """The 1M churn benchmark (benchmarks/churn.md) scales a copy of the warehouse: every copy
    of a customer is an independent customer with the same behaviour, so twice the customers
    and twice the active base are scored; the warehouse itself is untouched."""
    from crmwh_devkit.bench import churn as bench

    wh, fitted = warehouse
    count = "select count(*) as n from core.dim_customer where is_current"
    customers = int(wh.frame(count)["n"][0])
    scores = f"select count(*) as n from ml.churn_scores where as_of_date = '{LAST_DAY}'"
    with pytest.raises(ValueError, match="must not be the warehouse"):
        bench.copy_warehouse(wh.dsn, wh.frame("select current_database() as d")["d"][0])
    copy = bench.copy_warehouse(wh.dsn, "crm_bench_churn_test")
    try:
        result = bench.fit_only(copy, LAST_DAY, 2)
        assert result["customers"] == 2 * customers
        assert result["fit"]["rows_written"] == 2 * fitted["churn"]["rows_written"]
        assert int(wh.frame(scores, copy)["n"][0]) == 2 * fitted["churn"]["rows_written"]
    finally:
        with database.connect(wh.dsn, autocommit=True) as conn:
            conn.execute("drop database if exists crm_bench_churn_test")
    assert int(wh.frame(count)["n"][0]) == customers
    assert int(wh.frame(scores)["n"][0]) == fitted["churn"]["rows_written"]


def test_training_snapshots_read_the_samples_copies_to_the_same_signals(warehouse):
    """Above the row cap the training snapshots read a customer sample copied once (and its
    orders read once): every snapshot's signals are the ones the plain queries give."""
    from psycopg import sql

    from crmwh.churn import features, labels
    from crmwh.modelling.orders import read_orders

    wh, _ = warehouse
    share = 0.5
    with database.connect(wh.dsn, autocommit=True) as conn:
        dates, _ = labels.training_dates(
            LAST_DAY, train.first_data_date(conn, LAST_DAY), train.HORIZON_DAYS,
            labels.maturity_days(dbt_vars()), train.SNAPSHOTS, train.SNAPSHOT_SPACING_DAYS)
        everyone = len(features.raw_signals(conn, dates[-1]))
        orders = read_orders(conn, dates[-1], sql.SQL(features.sample_condition(share)))
        with features.sampled_core(conn, share, dates) as tables:
            assert set(tables) == set(features.SAMPLED_TABLES)
            for day in (dates[0], dates[-1]):
                got = features.raw_signals(conn, day, 24, share, tables, orders)
                want = features.raw_signals(conn, day, 24, share)
                assert 0.3 * everyone < len(got) < 0.7 * everyone
                pd.testing.assert_frame_equal(got, want)
        left = conn.execute("select count(*) from pg_class where relname like 'churn_sample%%' "
                            "and relpersistence = 't'").fetchone()[0]
        assert left == 0
