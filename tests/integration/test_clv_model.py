"""The nightly CLV task (crmwh.clv.nightly) on a private database of the test server:
predictions and model runs written, replaced on a rerun, refused on too little history.
(The models' mathematics: tests/unit/test_clv_model.py.)"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from crmwh import database
from crmwh.clv import nightly
from crmwh.clv.summary import summary
from crmwh.errors import CrmwhError
from crmwh.pgcopy import copy_frame
from crmwh_devkit.bench import clv_simulate as simulate
from tests.support.clv_reference import BG_DAY, GG
from tests.support.databases import drop_database, fresh_database

FCT_ORDERS_DDL = """
    create table core.fct_orders (
        order_id text primary key,
        customer_key text,
        order_date date,
        gross_margin numeric,
        is_cancelled boolean,
        is_deleted boolean
    )"""


@pytest.fixture()
def clv_db(cfg):
    dsn = fresh_database(cfg, "crmwh_clv_test")
    with database.connect(dsn, autocommit=True) as conn:
        conn.execute(FCT_ORDERS_DDL)
        yield conn
    drop_database(cfg, "crmwh_clv_test")


def _load_orders(conn, orders: pd.DataFrame) -> None:
    with conn.cursor() as cur:
        copy_frame(cur, "core.fct_orders", orders)


def test_nightly_run_writes_predictions_and_model_runs(clv_db) -> None:
    as_of_date = date(2026, 3, 31)
    rng = np.random.default_rng(42)
    orders = simulate.transactions(BG_DAY, GG, 1500, as_of_date, rng)
    orders["is_cancelled"] = False
    orders["is_deleted"] = False
    odd_key = 'Q, "quoted"\nkey 客户'  # survives the CSV and binary round trips
    extra = pd.DataFrame({
        "customer_key": ["ZZ-cancelled", "ZZ-deleted", "ZZ-future", orders.customer_key[0],
                         odd_key, odd_key, odd_key, odd_key, None],
        "order_date": [date(2026, 1, 5), date(2026, 1, 6), date(2026, 4, 2), date(2026, 4, 1),
                       date(2025, 6, 1), date(2025, 7, 1), date(2025, 7, 1), date(2025, 8, 1),
                       date(2025, 8, 1)],
        "gross_margin": [10.0, 10.0, 10.0, 1e6, 3.0, 4.0, None, None, 5.0],
        "is_cancelled": [True, False, False, False, False, False, False, False, False],
        "is_deleted": [False, True, False, False, False, False, False, False, False],
    })
    orders = pd.concat([orders, extra], ignore_index=True)
    orders.insert(0, "order_id", [f"O{i}" for i in range(len(orders))])
    _load_orders(clv_db, orders)

    result = nightly.run(clv_db, as_of_date, "manual__1")
    assert result["n_customers"] == 1501 and result["rows_written"] == 1501
    assert result["bgnbd"]["converged"] and result["gamma_gamma"]["converged"]

    rows = clv_db.execute(
        "select count(*), count(distinct model_run_id), min(p_alive), max(p_alive), "
        "bool_and(clv_predicted is not null), sum((frequency = 0)::int), "
        "sum((avg_margin is null)::int) from ml.clv_predictions where as_of_date = %s",
        (as_of_date,)).fetchone()
    assert rows[0] == 1501 and rows[1] == 1
    assert 0 <= rows[2] <= rows[3] <= 1 and rows[4]
    assert rows[5] == rows[6] > 0  # no repeat purchase <=> no average repeat margin
    assert clv_db.execute("select count(*) from ml.clv_predictions "
                          "where customer_key like 'ZZ-%'").fetchone()[0] == 0

    # every row matches the in-Python summary of the same valid orders
    valid = orders[~orders.is_cancelled & ~orders.is_deleted & orders.customer_key.notna()]
    expected = summary(valid, as_of_date).sort_index()
    got = pd.DataFrame(
        clv_db.execute("select customer_key, frequency, recency_days::float8, "
                       "tenure_days::float8, avg_margin::float8 from ml.clv_predictions "
                       "order by customer_key").fetchall(),
        columns=["customer_key", *expected.columns]).set_index("customer_key").sort_index()
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    assert got.loc[odd_key].tolist()[:3] == [2, 61.0, 303.0]
    assert got.loc[odd_key, "avg_margin"] == 4.0  # 1 July: 4 + unknown; 1 August: unknown

    runs = clv_db.execute(
        "select model, model_run_id, run_id, n_customers, params, converged, iterations, "
        "fit_seconds, score_seconds, log_likelihood from audit.model_runs order by model"
    ).fetchall()
    assert [r[0] for r in runs] == ["bgnbd", "gamma_gamma"]
    assert set(runs[0][4]) == {"r", "alpha", "a", "b"} and set(runs[1][4]) == {"p", "q", "v"}
    assert all(r[2] == "manual__1" and r[5] and r[6] > 0 and r[7] > 0 and r[9] < 0
               for r in runs)
    fitted_on = clv_db.execute("select count(*) from ml.clv_predictions "
                               "where frequency > 0 and avg_margin > 0").fetchone()[0]
    assert runs[0][3] == 1501 and runs[1][3] == fitted_on

    # rerun the date (new Airflow run): predictions replaced, not duplicated
    nightly.run(clv_db, as_of_date, "manual__2")
    again = clv_db.execute("select count(*), min(model_run_id), max(model_run_id) "
                           "from ml.clv_predictions").fetchone()
    assert again[0] == 1501 and again[1] == again[2] == f"{as_of_date}/manual__2/bgnbd"
    assert clv_db.execute("select count(*) from audit.model_runs").fetchone()[0] == 4
    # the same run again: its model_runs rows are overwritten
    nightly.run(clv_db, as_of_date, "manual__2")
    assert clv_db.execute("select count(*) from audit.model_runs").fetchone()[0] == 4

    # an earlier as-of date sits next to it and leaves it alone
    earlier = nightly.run(clv_db, date(2026, 1, 31), "manual__3")
    counts = dict(clv_db.execute("select as_of_date, count(*) from ml.clv_predictions "
                                 "group by 1").fetchall())
    assert counts == {as_of_date: 1501, date(2026, 1, 31): earlier["rows_written"]}
    assert earlier["rows_written"] < 1501


def test_nightly_refuses_too_few_repeat_buyers(clv_db) -> None:
    orders = pd.DataFrame({
        "order_id": [f"O{i}" for i in range(12)],
        "customer_key": [f"C{i // 2}" for i in range(12)],
        "order_date": [date(2026, 1, 1 + i) for i in range(12)],
        "gross_margin": 5.0,
        "is_cancelled": False,
        "is_deleted": False,
    })
    _load_orders(clv_db, orders)
    with pytest.raises(CrmwhError, match="too few repeat buyers") as info:
        nightly.run(clv_db, date(2026, 3, 31), "manual__1")
    assert info.value.fix
    assert clv_db.execute("select count(*) from ml.clv_predictions").fetchone()[0] == 0
    assert clv_db.execute("select count(*) from audit.model_runs").fetchone()[0] == 0
