"""Fit the churn model on the warehouse's history and score the active base on a date.

Training rows are (customer, snapshot date) pairs: the customers active on each snapshot
date (:func:`labels.training_dates`), their point-in-time features, and the label known on
the scoring date. Everything is read as known on ``as_of_date`` (facts dated after it are
ignored), so the same call scores a past date for a backtest.

Three candidates are fitted on the same rows: gradient-boosted trees (:mod:`gbm`), the
sign-constrained logistic (:mod:`logistic`) and the purchase model's P(no purchase) alone
(:mod:`purchase_baseline`). Each is validated out of fold on the warehouse's own labels
(folds group a customer's snapshots); the best ROC AUC scores the customers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from crmwh.churn import features, gbm, labels, logistic, metrics, purchase_baseline, reasons
from crmwh.churn.signals import FEATURE_NAMES, SIGNAL_OF
from crmwh.errors import InsufficientData
from crmwh.modelling.orders import read_orders
from crmwh.settings import dbt_vars

HORIZON_DAYS = 90
SNAPSHOTS = 6
SNAPSHOT_SPACING_DAYS = 30
L2 = 1.0
MAX_TRAINING_ROWS = 200_000
OVERSAMPLE = 1.25  # customers drawn per row kept, so the row cap, not the draw, sets the size
MIN_POSITIVES = 10


Model = logistic.LogisticModel | gbm.GbmModel | purchase_baseline.NoPurchaseModel
CANDIDATES = ("churn_gbm", "churn_logistic", "bgnbd_no_purchase")
# also a scorer the marts can use when a backtest says so: P(no purchase) itself
SCORERS = (*CANDIDATES, "bgnbd_p_no_purchase")
FOLDS = 3
VALIDATION_CUSTOMERS = 20_000  # whose training rows are validated out of fold


@dataclass
class Scored:
    as_of_date: date
    model: Model  # the chosen candidate
    chosen: str
    frame: pd.DataFrame  # customer_key, score, reason_1..3, push_1..3, raw signals
    training: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)  # candidate -> out-of-fold metrics
    candidates: dict = field(default_factory=dict)  # candidate -> fitted model


def first_data_date(conn: psycopg.Connection, as_of_date: date) -> date | None:
    row = conn.execute(
        "select min(order_date) from core.fct_orders where order_date <= %s", (as_of_date,)
    ).fetchone()
    return row[0] if row else None


def sample_share(active: int, snapshots: int, max_rows: int) -> float:
    """Share of the customers whose snapshots are read for training: all while ``snapshots``
    x ``active`` (the active base on the scoring date) stays within ``max_rows``, else about
    OVERSAMPLE x ``max_rows`` rows' worth (the seeded row cap then trims to ``max_rows``)."""
    if active * snapshots <= max_rows:
        return 1.0
    return min(1.0, OVERSAMPLE * max_rows / (active * snapshots))


def training_set(conn: psycopg.Connection, as_of_date: date, *, horizon: int, snapshots: int,
                 spacing: int, max_rows: int, share: float = 1.0, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Rows (features), labels, the customer key of each row, and what was used. With
    ``share`` < 1 only a fixed sample of the customers is read at every snapshot
    (:func:`features.sample_condition`): the same customers' histories, set-based in SQL."""
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
    xs, ys, keys, per_date = [], [], [], []
    # the sample's orders read once, up to the last snapshot; each snapshot keeps its own
    orders = read_orders(conn, dates[-1], sql.SQL(features.sample_condition(share)))
    with features.sampled_core(conn, share, dates) as tables:
        for snapshot_date in dates:
            raw = features.raw_signals(conn, snapshot_date, sla, share, tables, orders)
            x = features.to_features(raw, snapshot_date).to_numpy()
            y = labels.labels(conn, raw["customer_key"], snapshot_date, as_of_date, horizon)
            xs.append(x)
            ys.append(y)
            keys.append(raw["customer_key"].to_numpy(dtype=object))
            per_date.append({"date": snapshot_date.isoformat(), "rows": int(len(y)),
                             "positives": int(y.sum())})
    x, y, key = np.vstack(xs), np.concatenate(ys), np.concatenate(keys)
    if len(y) > max_rows:
        keep = np.random.default_rng(seed).choice(len(y), max_rows, replace=False)
        x, y, key = x[keep], y[keep], key[keep]
    info = {"snapshots": per_date, "labels_complete": complete, "horizon_days": horizon,
            "maturity_days": maturity, "customer_share": share, "rows": int(len(y)),
            "positives": int(y.sum())}
    if y.sum() < MIN_POSITIVES or y.sum() == len(y):
        raise InsufficientData(
            f"too few churned customers to train the churn model as of {as_of_date}: "
            f"{int(y.sum())} of {len(y)} training rows", "load more history")
    return x, y, key, info


def fit_candidates(x: np.ndarray, y: np.ndarray, key: np.ndarray, candidates: tuple[str, ...],
                   l2: float, folds: int = FOLDS) -> dict[str, tuple[Model, np.ndarray]]:
    """Each candidate fitted on all rows, with its out-of-fold probabilities (folds group a
    customer's rows; up to VALIDATION_CUSTOMERS customers' rows are validated, the others'
    probabilities are NaN). The purchase baseline has two parameters: its in-sample fit stands
    in for out-of-fold."""
    fold = gbm.fold_of(key, folds, VALIDATION_CUSTOMERS)
    nonneg = np.array([SIGNAL_OF[n] is not None for n in FEATURE_NAMES])
    out: dict[str, tuple[Model, np.ndarray]] = {}
    for name in candidates:
        if name == "churn_gbm":
            out[name] = gbm.fit(x, y, FEATURE_NAMES, SIGNAL_OF, fold)
        elif name == "churn_logistic":
            oof = np.full(len(y), np.nan)
            for k in np.unique(fold[fold >= 0]):
                test = fold == k
                train = (fold >= 0) & ~test
                part = logistic.fit(x[train], y[train], FEATURE_NAMES, l2=l2, nonnegative=nonneg)
                oof[test] = part.predict(x[test])
            out[name] = (logistic.fit(x, y, FEATURE_NAMES, l2=l2, nonnegative=nonneg), oof)
        elif name in ("bgnbd_no_purchase", "bgnbd_p_no_purchase"):
            model = purchase_baseline.fit(x, y, FEATURE_NAMES,
                                          calibrate=name == "bgnbd_no_purchase")
            out[name] = (model, np.where(fold >= 0, model.predict(x), np.nan))
        else:
            raise ValueError(f"unknown churn model candidate {name!r}")
    return out


def choose(validation: dict[str, dict]) -> str:
    """The candidate with the highest out-of-fold ROC AUC (ties: lower Brier score, then the
    order of CANDIDATES)."""
    return max(validation, key=lambda n: (round(validation[n]["auc"], 6),
                                          -validation[n]["brier"]))


def fit_and_score(conn: psycopg.Connection, as_of_date: date, *, horizon: int = HORIZON_DAYS,
                  snapshots: int = SNAPSHOTS, spacing: int = SNAPSHOT_SPACING_DAYS,
                  l2: float = L2, max_rows: int = MAX_TRAINING_ROWS,
                  candidates: tuple[str, ...] = CANDIDATES, prefer: str | None = None) -> Scored:
    """Train the candidates on snapshots before ``as_of_date``, keep ``prefer`` (the one a
    backtest found best) or else the one that validates best out of fold, and score the
    customers active on ``as_of_date`` with it."""
    seconds = {}
    sla = int(dbt_vars().get("complaint_response_sla_hours", 24))
    t = time.perf_counter()
    raw = features.raw_signals(conn, as_of_date, sla)
    seconds["score_signals"] = time.perf_counter() - t
    t = time.perf_counter()
    x, y, key, info = training_set(conn, as_of_date, horizon=horizon, snapshots=snapshots,
                                   spacing=spacing, max_rows=max_rows,
                                   share=sample_share(len(raw), snapshots, max_rows))
    seconds["training_set"] = time.perf_counter() - t
    t = time.perf_counter()
    # a scorer the backtest chose is the only one fitted
    fitted = fit_candidates(x, y, key, (prefer,) if prefer in SCORERS else candidates, l2)
    validation = {name: metrics.summary(y[np.isfinite(oof)], oof[np.isfinite(oof)])
                  for name, (_, oof) in fitted.items()}
    chosen = prefer if prefer in fitted else choose(validation)
    model = fitted[chosen][0]
    seconds["fit"] = time.perf_counter() - t

    t = time.perf_counter()
    frame = score_frame(raw, model, as_of_date)
    frame["scored_by"] = chosen
    seconds["score"] = seconds.pop("score_signals") + time.perf_counter() - t
    return Scored(as_of_date, model, chosen, frame, info, seconds, validation,
                  {name: fitted_model for name, (fitted_model, _) in fitted.items()})


def score_frame(raw: pd.DataFrame, model: Model, as_of_date: date) -> pd.DataFrame:
    """``raw`` with the model's score and the top three reasons with their pushes."""
    x_now = features.to_features(raw, as_of_date).to_numpy()
    names, values = reasons.top_reasons(model.signal_pushes(x_now))
    frame = raw.copy()
    frame["score"] = model.predict(x_now)
    for i in range(3):
        frame[f"reason_{i + 1}"] = [row[i] for row in names]
        frame[f"reason_{i + 1}_push"] = values[:, i]
    return frame
