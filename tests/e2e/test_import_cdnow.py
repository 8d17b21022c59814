"""End to end on public data we did not produce: the CDNOW transaction log (1997-01-01 ..
1998-06-30, 23,570 customers) as the ``lifetimes`` wheel ships it (a dev dependency; only
its data file is read, the package is never imported).

Exactly what the README's "Your own data" says: ``crmwh import transactions`` then
``crmwh run --date 1998-07-01``, through the real command line in subprocesses with a home
and a port of their own and no other source configured. The value mart is then checked
against an independent pandas computation on the same file: orders, revenue and recency
per customer, and predicted purchases in the next 365 days from BG/NBD's conditional
expectation (Fader, Hardie & Lee 2005, eq. 10, with scipy's 2F1) on the pandas-derived
x, t_x, T and the parameters the run logged in ``audit.model_runs``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from scipy.special import hyp2f1

from tests.support.cli import CRMWH, crmwh
from tests.support.databases import home_dsn
from tests.support.ports import free_port

CDNOW = Path(importlib.util.find_spec("lifetimes").origin).parent / "datasets" / "CDNOW_master.txt"
AS_OF = date(1998, 7, 1)  # the day after the log ends
IMPORT = ("import", "transactions", str(CDNOW), "--customer-col", "customer_id",
          "--date-col", "date", "--amount-col", "dollar_value",
          "--quantity-col", "number_of_cds", "--date-format", "%Y%m%d",
          "--delimiter", "whitespace")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """Import the log and run the nightly on a home with nothing else; the warehouse DSN
    and the home."""
    env = {"CRM_HOME": str(tmp_path_factory.mktemp("cdnow")), "CRM_PG_PORT": str(free_port()),
           "CRM_SERVICE_URL": "", "CRM_SALES_DSN": "", "CRM_BILLING_DIR": ""}
    try:
        done = crmwh(*IMPORT, **env)
        assert done.returncode == 0, done.stderr
        run = subprocess.run([*CRMWH, "run", "--date", AS_OF.isoformat()], capture_output=True,
                             text=True, timeout=3600,
                             env={**os.environ, **env})
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        # progress while the DAG runs: each task as it starts, out of the run's tasks
        progress = re.findall(r"task (\d+) of (\d+): (\S+)", run.stdout)
        assert progress and len({total for _, total, _ in progress}) == 1
        assert [int(n) for n, _, _ in progress] == list(range(1, len(progress) + 1))
        assert len(progress) <= int(progress[0][1]) and progress[0][2].startswith("extract_")
        yield home_dsn(env), Path(env["CRM_HOME"])
    finally:
        crmwh("db", "stop", **env)


def expected() -> pd.DataFrame:
    """Per customer, from the file alone: orders, revenue, recency and BG/NBD's x, t_x, T
    (purchase days: several transactions on one day are one purchase)."""
    log = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": "int64", "date": str})
    log["day"] = pd.to_datetime(log["date"], format="%Y%m%d")
    as_of = pd.Timestamp(AS_OF)
    per = log.groupby("customer_id").agg(orders=("day", "size"),
                                         revenue=("dollar_value", "sum"),
                                         quantity=("number_of_cds", "sum"),
                                         first=("day", "min"), last=("day", "max"),
                                         days=("day", "nunique"))
    per["recency_days"] = (as_of - per["last"]).dt.days
    per["x"] = per["days"] - 1
    per["t_x"] = (per["last"] - per["first"]).dt.days
    per["T"] = (as_of - per["first"]).dt.days
    return per


def bgnbd_expected(r: float, alpha: float, a: float, b: float, t: float, x: np.ndarray,
                   t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """E[X(t) | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10)."""
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    alive = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return head * tail / alive


def test_value_mart_matches_pandas_on_the_cdnow_log(warehouse):
    with psycopg.connect(warehouse[0]) as conn:
        cur = conn.execute(
            """select sales_customer_id, orders_count, revenue::float8, recency_days,
                      expected_purchases_365d, as_of_date
               from marts.mart_customer_value""")
        mart = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
        params = conn.execute(
            """select params from audit.model_runs where model = 'bgnbd' and as_of_date = %s
               and status = 'fitted' order by created_at desc limit 1""", (AS_OF,)).fetchone()
    want = expected()
    assert (mart["as_of_date"] == AS_OF).all()
    got = mart.set_index("sales_customer_id").sort_index()
    assert got.index.tolist() == want.index.tolist()  # every customer of the log, no other
    assert (got["orders_count"] == want["orders"]).all()
    assert (got["recency_days"] == want["recency_days"]).all()
    # the unit price is the amount over the quantity at 4 decimals: revenue can move by half
    # a unit of the 4th decimal per item
    assert np.all(np.abs(got["revenue"] - want["revenue"]) <= 0.00005 * want["quantity"] + 1e-9)
    assert params is not None, "the BG/NBD fit was skipped"
    p = params[0]
    predicted = bgnbd_expected(p["r"], p["alpha"], p["a"], p["b"], 365.0,
                               want["x"].to_numpy(float), want["t_x"].to_numpy(float),
                               want["T"].to_numpy(float))
    np.testing.assert_allclose(got["expected_purchases_365d"].to_numpy(float), predicted,
                               rtol=1e-6, atol=1e-9)


def test_the_run_says_which_sources_are_absent_and_which_marts_are_partial(warehouse):
    with psycopg.connect(warehouse[0]) as conn:
        absent, partial = conn.execute(
            "select absent_sources, partial_marts from audit.run_summary where as_of_date = %s "
            "order by finished_at desc limit 1", (AS_OF,)).fetchone()
        sales = conn.execute("select present, reason from audit.source_presence "
                             "where source = 'sales' and as_of_date = %s", (AS_OF,)).fetchone()
        churn = conn.execute("select count(*) from marts.mart_churn_monthly").fetchone()[0]
    assert sorted(absent) == ["billing", "service"]
    assert partial["marts.mart_customer_value"] == ["billing", "service"]
    assert sales[0] and "import:CDNOW_master.txt" in sales[1]
    assert churn > 0  # the churn marts are built from the file alone too
    report = (warehouse[1] / "reports" / "latest.html").read_text(encoding="utf-8")
    assert 'data-section="sources"' in report and "Partial marts" in report
    assert "CRM_BILLING_DIR is not set" in report
