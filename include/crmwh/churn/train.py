"""Fit the churn model on the warehouse's history and score the active base on a date.

Training rows are (customer, snapshot date) pairs: the customers active on each snapshot
date (:func:`labels.training_dates`), their point-in-time features, and the label known on
the scoring date. Everything is read as known on ``as_of_date`` (facts dated after it are
ignored), so the same call scores a past date for a backtest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import psycopg

from crmwh.churn import features, labels, logistic, reasons
from crmwh.churn.signals import FEATURE_NAMES, SIGNAL_OF
from crmwh.errors import InsufficientData
from crmwh.settings import dbt_vars

HORIZON_DAYS = 90
SNAPSHOTS = 6
SNAPSHOT_SPACING_DAYS = 30
L2 = 1.0
MAX_TRAINING_ROWS = 400_000
MIN_POSITIVES = 10


@dataclass
class Scored:
    as_of_date: date
    model: logistic.LogisticModel
    frame: pd.DataFrame  # customer_key, score, reason_1..3, push_1..3, raw signals
    training: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def first_data_date(conn: psycopg.Connection, as_of_date: date) -> date | None:
    row = conn.execute(
        "select min(order_date) from core.fct_orders where order_date <= %s", (as_of_date,)
    ).fetchone()
    return row[0] if row else None


def training_set(conn: psycopg.Connection, as_of_date: date, *, horizon: int, snapshots: int,
                 spacing: int, max_rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    first = first_data_date(conn, as_of_date)
    if first is None:
        raise InsufficientData(f"no orders up to {as_of_date}: nothing to train the churn model on",
                               "load order history into core.fct_orders")
    sla = int(dbt_vars().get("complaint_response_sla_hours", 24))
    maturity = labels.maturity_days(dbt_vars())
    dates, complete = labels.training_dates(as_of_date, first, horizon, maturity, snapshots,
                                            spacing)
    if not dates:
        raise InsufficientData(
            f"no training snapshot for the churn model as of {as_of_date}: history starts {first}, "
            f"a snapshot needs 90 days of history and {horizon} days of outcome",
            "load more history (or pick a later as-of date)")
    xs, ys, per_date = [], [], []
    for snapshot_date in dates:
        raw = features.raw_signals(conn, snapshot_date, sla)
        x = features.to_features(raw, snapshot_date).to_numpy()
        y = labels.labels(conn, raw["customer_key"], snapshot_date, as_of_date, horizon)
        xs.append(x)
        ys.append(y)
        per_date.append({"date": snapshot_date.isoformat(), "rows": int(len(y)),
                         "positives": int(y.sum())})
    x, y = np.vstack(xs), np.concatenate(ys)
    if len(y) > max_rows:
        keep = np.random.default_rng(seed).choice(len(y), max_rows, replace=False)
        x, y = x[keep], y[keep]
    info = {"snapshots": per_date, "labels_complete": complete, "horizon_days": horizon,
            "maturity_days": maturity, "rows": int(len(y)), "positives": int(y.sum())}
    if y.sum() < MIN_POSITIVES or y.sum() == len(y):
        raise InsufficientData(
            f"too few churned customers to train the churn model as of {as_of_date}: "
            f"{int(y.sum())} of {len(y)} training rows", "load more history")
    return x, y, info


def fit_and_score(conn: psycopg.Connection, as_of_date: date, *, horizon: int = HORIZON_DAYS,
                  snapshots: int = SNAPSHOTS, spacing: int = SNAPSHOT_SPACING_DAYS,
                  l2: float = L2, max_rows: int = MAX_TRAINING_ROWS) -> Scored:
    """Train on snapshots before ``as_of_date`` and score the customers active on ``as_of_date``."""
    seconds = {}
    t = time.perf_counter()
    x, y, info = training_set(conn, as_of_date, horizon=horizon, snapshots=snapshots,
                              spacing=spacing, max_rows=max_rows)
    seconds["training_set"] = time.perf_counter() - t
    nonneg = np.array([SIGNAL_OF[n] is not None for n in FEATURE_NAMES])
    model = logistic.fit(x, y, FEATURE_NAMES, l2=l2, nonnegative=nonneg)
    seconds["fit"] = model.fit_seconds

    t = time.perf_counter()
    sla = int(dbt_vars().get("complaint_response_sla_hours", 24))
    raw = features.raw_signals(conn, as_of_date, sla)
    x_now = features.to_features(raw, as_of_date).to_numpy()
    score = model.predict(x_now)
    pushes = reasons.signal_pushes(model.contributions(x_now), FEATURE_NAMES)
    names, values = reasons.top_reasons(pushes)
    frame = raw.copy()
    frame["score"] = score
    for i in range(3):
        frame[f"reason_{i + 1}"] = [row[i] for row in names]
        frame[f"reason_{i + 1}_push"] = values[:, i]
    seconds["score"] = time.perf_counter() - t
    return Scored(as_of_date, model, frame, info, seconds)
