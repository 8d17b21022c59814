"""The learned churn model on small deterministic data, without a database: customers buy as
Poisson processes, a hidden share is about to leave and shows it (fewer orders lately, more
complaints, slower answers, lower satisfaction), none of it strong on its own. The candidates
are fitted and chosen exactly as the nightly does (crmwh.churn.train) on one draw and judged
on another: the chosen model must beat recency and the BG/NBD baseline, and its
probabilities the base rate."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from crmwh.churn import features, gbm, metrics, train
from crmwh.churn.reasons import SIGNAL_NAMES
from crmwh.churn.signals import FEATURE_NAMES, SIGNAL_OF
from crmwh.clv import bgnbd

AS_OF = date(2026, 6, 30)
HORIZON = 90


def customers(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Raw signals (as crmwh.churn.features.raw_signals returns them) and the 0/1 outcome."""
    rng = np.random.default_rng(seed)
    age = rng.integers(120, 720, n).astype(float)  # days since the first purchase
    rate = rng.gamma(1.5, 1 / 30, n)  # purchases a day
    leaving = rng.random(n) < 0.3
    outcome = rng.random(n) < np.where(leaving, 0.55, 0.12)
    rows = []
    for i in range(n):
        times = np.cumsum(rng.exponential(1 / rate[i], 200))
        times = times[times < age[i]]
        late = times > age[i] - 90
        if leaving[i]:  # fewer orders in the last 90 days
            times = times[~late | (rng.random(len(times)) < 0.4)]
        days = np.unique(np.r_[0.0, np.floor(times)])
        since = age[i] - days  # days before the as-of date
        rows.append((len(days) - 1, days[-1], since.min(), (since < 90).sum(),
                     ((since >= 90) & (since < 180)).sum(), (since < 365).sum()))
    x, t_x, recency, o90, prev90, o365 = map(np.array, zip(*rows, strict=True))
    params = bgnbd.fit(x, t_x, age).params
    complaints = rng.poisson(np.where(leaving, 1.0, 0.35))
    satisfaction = np.where(rng.random(n) < 0.5, np.nan,
                            rng.normal(np.where(leaving, 0.9, 1.0), 0.12))
    day = pd.Timestamp(AS_OF)
    raw = pd.DataFrame({
        "customer_key": [f"c{seed}_{i}" for i in range(n)],
        "first_active_date": (day - pd.to_timedelta(age, unit="D")).date,
        "has_contract": False, "contract_ends_90d": False,
        "last_order_date": (day - pd.to_timedelta(recency, unit="D")).date,
        "orders_90d": o90, "orders_prev_90d": prev90, "orders_365d": o365,
        "promo_365d": rng.binomial(o365, 0.2),
        "complaints_90d": complaints, "sla_missed_90d": rng.binomial(complaints, 0.5),
        "rep_left": rng.random(n) < 0.03, "overdue_amount": 0.0, "overdue_over_30": False,
        "satisfaction_c": satisfaction, "p_contract_lapse": 0.0,
        "p_no_purchase": bgnbd.p_no_purchase(params, HORIZON, x, t_x, age),
    })
    return raw, outcome


@pytest.fixture(scope="module")
def fitted():
    raw, y = customers(3000, seed=1)
    x = features.to_features(raw, AS_OF).to_numpy()
    models = train.fit_candidates(x, y.astype(float), raw["customer_key"].to_numpy(),
                                  train.CANDIDATES, train.L2)
    validation = {n: metrics.summary(y[np.isfinite(oof)], oof[np.isfinite(oof)])
                  for n, (_, oof) in models.items()}
    return models, validation


def test_the_chosen_model_beats_recency_and_the_purchase_model(fitted):
    models, validation = fitted
    chosen = train.choose(validation)
    raw, y = customers(3000, seed=2)
    x = features.to_features(raw, AS_OF).to_numpy()
    p = models[chosen][0].predict(x)
    recency = (pd.Timestamp(AS_OF) - pd.to_datetime(raw["last_order_date"])).dt.days
    for name, baseline in (("recency", recency.to_numpy(float)),
                           ("bgnbd_p_no_purchase", raw["p_no_purchase"].to_numpy(float))):
        assert metrics.auc(y, p) > metrics.auc(y, baseline) + 0.03, name
        assert metrics.top_decile_lift(y, p) > metrics.top_decile_lift(y, baseline), name
    assert metrics.brier(y, p) < metrics.brier(y, np.full(len(y), y.mean()))
    # calibrated: the mean prediction is the churn rate within 3 points
    assert abs(p.mean() - y.mean()) < 0.03


def test_trees_respect_the_warning_signals_direction(fitted):
    models, _ = fitted
    model = models["churn_gbm"][0]
    base = np.tile(model.reference, (50, 1))
    for j, name in enumerate(FEATURE_NAMES):
        if SIGNAL_OF[name] is None:
            continue
        grid = base.copy()
        grid[:, j] = np.linspace(base[0, j] - 3, base[0, j] + 3, 50)
        assert np.all(np.diff(model.predict(grid)) >= -1e-12), name


def test_tree_reasons_name_the_signal_that_raises_the_risk(fitted):
    models, _ = fitted
    model = models["churn_gbm"][0]
    x = np.tile(model.reference, (1, 1))
    x[0, FEATURE_NAMES.index("log_complaints_90d")] = np.log1p(4)
    x[0, FEATURE_NAMES.index("log_sla_missed_90d")] = np.log1p(3)
    pushes = model.signal_pushes(x)
    assert SIGNAL_NAMES[int(np.argmax(pushes[0]))] == "complaints_slow_resolution"
    assert pushes[0].max() > 0
    # the typical customer has nothing pushing it up
    assert np.allclose(model.signal_pushes(model.reference.reshape(1, -1)), 0.0)


def test_only_the_candidates_asked_for_are_fitted():
    raw, y = customers(400, seed=3)
    x = features.to_features(raw, AS_OF).to_numpy()
    one = train.fit_candidates(x, y.astype(float), raw["customer_key"].to_numpy(),
                               ("bgnbd_no_purchase",), train.L2)
    assert list(one) == ["bgnbd_no_purchase"]
    with pytest.raises(ValueError):
        train.fit_candidates(x, y.astype(float), raw["customer_key"].to_numpy(), ("x",), 1.0)


def test_folds_keep_a_customers_rows_together():
    keys = np.array(["a", "b", "a", "c", "b", "a"] * 10, dtype=object)
    fold = gbm.fold_of(keys, 3)
    for key in set(keys):
        assert len(set(fold[keys == key])) == 1
    assert len(set(fold)) > 1
    some = gbm.fold_of(keys, 3, max_groups=2)
    assert (some == -1).any() and len(set(keys[some >= 0])) == 2


def test_pr_auc_matches_scikit_learn():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(5)
    y = rng.random(500) < 0.3
    s = np.round(rng.random(500) + 0.5 * y, 2)  # with ties
    assert metrics.pr_auc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    table = metrics.calibration(y, s, bins=5)
    assert sum(b["rows"] for b in table) == 500
    assert metrics.brier([1, 0], [0.8, 0.4]) == pytest.approx((0.04 + 0.16) / 2)

