"""Function-level benchmark of the churn fit and scoring at 1,000,000 customers, without a
warehouse (benchmarks/churn.md, "fit and score").

Synthetic order days and service signals for ``n`` customers (the columns of
``crmwh.churn.features.raw_signals``) feed the same functions the nightly runs after its SQL:
the purchase model (summary, BG/NBD fit, closed forms), ``to_features``, the training rows'
sample and ``train.fit_candidates`` / ``choose``, and ``train.score_frame`` (scores and
reasons) on every customer. What this leaves out is the SQL that reads ``core``; its share is
measured separately on a warehouse.

Run: ``python -m crmwh_devkit.bench.churn_fit [customers]``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date

import numpy as np
import pandas as pd

from crmwh.churn import features, metrics, train
from crmwh.clv import bgnbd
from crmwh.clv.summary import EPOCH, summarise_orders

AS_OF = date(2026, 12, 31)
HISTORY_DAYS = 730


def orders(n: int, seed: int) -> pd.DataFrame:
    """About 7 orders per customer over two years (as the 1M warehouse of churn.md), as
    ``crmwh.modelling.orders.read_orders`` returns them."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, HISTORY_DAYS, n)
    rate = rng.gamma(0.8, 1 / 30, n)
    life = rng.exponential(400, n)
    span = np.minimum(HISTORY_DAYS - first, life)
    count = 1 + rng.poisson(rate * span)
    cust = np.repeat(np.arange(n), count)
    offset = np.floor(rng.random(len(cust)) * np.repeat(span, count)).astype(np.int64)
    offset[np.r_[0, np.cumsum(count)[:-1]]] = 0  # the first order on the first day
    end = (np.datetime64(AS_OF, "D") - EPOCH).astype(np.int64)
    day = end - HISTORY_DAYS + np.repeat(first, count) + offset
    return pd.DataFrame({"customer_key": pd.Series([f"k{i}" for i in cust], dtype=object),
                         "day": day, "gross_margin": rng.gamma(2.0, 20.0, len(cust))})


def raw_frame(log: pd.DataFrame, as_of_date: date, seed: int) -> pd.DataFrame:
    """The raw signals of every customer with an order by ``as_of_date`` (order columns from
    the log, service columns drawn)."""
    end = (np.datetime64(as_of_date, "D") - EPOCH).astype(np.int64)
    log = log[log["day"] <= end]
    g = log.groupby("customer_key", sort=True)["day"]
    first, last = g.min(), g.max()
    age = end - log["day"]
    counts = pd.DataFrame({
        "orders_90d": (age < 90), "orders_prev_90d": (age >= 90) & (age < 180),
        "orders_365d": (age < 365)}).groupby(log["customer_key"]).sum()
    n = len(first)
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_key": first.index.to_numpy(dtype=object),
        "first_active_date": (EPOCH + first.to_numpy()).astype("datetime64[D]").astype(object),
        "has_contract": rng.random(n) < 0.4, "contract_ends_90d": rng.random(n) < 0.05,
        "contract_end_date": None,
        "last_order_date": (EPOCH + last.to_numpy()).astype("datetime64[D]").astype(object),
        **{c: counts[c].to_numpy(np.int64) for c in counts},
        "promo_365d": 0, "complaints_90d": rng.poisson(0.3, n),
        "sla_missed_90d": rng.poisson(0.1, n), "rep_left": rng.random(n) < 0.03,
        "overdue_amount": np.where(rng.random(n) < 0.05, rng.gamma(2, 100, n), 0.0),
        "overdue_over_30": rng.random(n) < 0.02,
        "satisfaction_c": np.where(rng.random(n) < 0.5, np.nan, rng.normal(1.0, 0.1, n)),
        "p_contract_lapse": 0.0,
    })
    return frame


def purchase_columns(log: pd.DataFrame, as_of_date: date, raw: pd.DataFrame) -> None:
    """The purchase model's columns, as ``features.purchase_model`` computes them."""
    keys, summary = summarise_orders(log, as_of_date)
    x = summary.frequency.astype(np.float64)
    fit_rows = features.fit_sample(len(x))
    params = bgnbd.fit(x[fit_rows], summary.recency[fit_rows], summary.T[fit_rows]).params
    p0 = bgnbd.p_no_purchase(params, 90, x, summary.recency, summary.T)
    found = pd.Series(p0, index=keys).reindex(raw["customer_key"].to_numpy())
    raw["p_no_purchase"] = found.to_numpy()
    raw["expected_purchases"] = 0.0


class Clock:
    """Wall and CPU seconds per part (the machine is shared: CPU time is what the part
    costs, wall time what it took under the load of the moment)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._t = (time.perf_counter(), time.process_time())

    def lap(self, name: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.wall[name] = now[0] - self._t[0]
        self.cpu[name] = now[1] - self._t[1]
        self._t = now

    def start(self) -> None:
        self._t = (time.perf_counter(), time.process_time())


def run(n: int = 1_000_000, candidates: tuple[str, ...] = train.CANDIDATES) -> dict:
    clock = Clock()
    log = orders(n, seed=1)
    clock.start()
    raw = raw_frame(log, AS_OF, seed=2)
    purchase_columns(log, AS_OF, raw)
    clock.lap("score_purchase_model_and_frame")

    # training rows: six snapshots 30 days apart, 270 days back, a customer sample sized to
    # the row cap as train.training_set draws it
    clock.start()
    share = train.sample_share(len(raw), train.SNAPSHOTS, train.MAX_TRAINING_ROWS)
    xs, ys, keys = [], [], []
    for i in range(train.SNAPSHOTS):
        snap = date.fromordinal(AS_OF.toordinal() - 270 - 30 * i)
        end = (np.datetime64(snap, "D") - EPOCH).astype(np.int64)
        bucket = pd.util.hash_pandas_object(log["customer_key"], index=False).to_numpy()
        part = log[(bucket & (features.SAMPLE_BUCKETS - 1))
                   < round(share * features.SAMPLE_BUCKETS)]
        snap_raw = raw_frame(part, snap, seed=10 + i)
        purchase_columns(part, snap, snap_raw)
        # label: no order in the next 180 days (a stand-in for the warehouse's churn label)
        later = part[(part["day"] > end) & (part["day"] <= end + 180)]["customer_key"]
        y = (~snap_raw["customer_key"].isin(set(later))).to_numpy(np.float64)
        xs.append(features.to_features(snap_raw, snap).to_numpy())
        ys.append(y)
        keys.append(snap_raw["customer_key"].to_numpy(dtype=object))
    x, y, key = np.vstack(xs), np.concatenate(ys), np.concatenate(keys)
    clock.lap("training_set_python")
    fitted = train.fit_candidates(x, y, key, candidates, train.L2)
    validation = {name: metrics.summary(y[np.isfinite(oof)], oof[np.isfinite(oof)])
                  for name, (_, oof) in fitted.items()}
    chosen = train.choose(validation)
    clock.lap("fit")
    frame = train.score_frame(raw, fitted[chosen][0], AS_OF)
    clock.lap("score_and_reasons")
    return {"customers": n, "orders": int(len(log)), "scored": int(len(frame)),
            "training_share": share, "training_rows": int(len(y)), "chosen": chosen,
            "candidates": list(candidates), "wall_seconds": clock.wall,
            "cpu_seconds": clock.cpu, "total_wall_seconds": sum(clock.wall.values()),
            "total_cpu_seconds": sum(clock.cpu.values()), "load_average": os.getloadavg()}


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(json.dumps(run(size), indent=1, default=str))
