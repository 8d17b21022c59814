"""The churn model's Python parts without a database: the regularised, sign-constrained
logistic regression, reasons per hand-built customer (one per DOMAIN §4 warning signal),
the backtest metrics and the training-date rule."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from crmwh.churn import features, labels, logistic, metrics, reasons
from crmwh.churn.signals import FEATURE_NAMES, FEATURES, SIGNAL_OF, SIGNALS


def simulated(n: int = 20_000, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    beta = np.array([1.5, -0.8, 0.0])
    p = 1 / (1 + np.exp(-(x @ beta - 0.5)))
    return x, (rng.random(n) < p).astype(float), beta


def test_logistic_fit_recovers_the_coefficients():
    x, y, beta = simulated()
    model = logistic.fit(x, y, ("a", "b", "c"), l2=1.0)
    assert model.converged
    # x is already standard normal: standardised coefficients ~ the true ones
    np.testing.assert_allclose(model.coef, beta, atol=0.06)
    assert model.intercept == pytest.approx(-0.5, abs=0.06)
    p = model.predict(x)
    assert 0 < p.min() and p.max() < 1


def test_l2_shrinks_and_sign_constraint_binds():
    x, y, _ = simulated()
    loose = logistic.fit(x, y, ("a", "b", "c"), l2=1.0)
    tight = logistic.fit(x, y, ("a", "b", "c"), l2=1e5)
    assert np.abs(tight.coef).sum() < 0.5 * np.abs(loose.coef).sum()
    # b truly lowers the odds: constrained to be >= 0 it sits on the bound
    constrained = logistic.fit(x, y, ("a", "b", "c"), nonnegative=np.array([True, True, True]))
    assert constrained.coef[1] == 0.0
    assert constrained.coef[0] > 1.0


def test_logistic_fit_needs_both_classes():
    with pytest.raises(ValueError):
        logistic.fit(np.ones((5, 1)), np.zeros(5), ("a",))


def fixed_model() -> logistic.LogisticModel:
    """Every feature standardised around 0 with scale 1 and coefficient 1 (controls 0)."""
    p = len(FEATURE_NAMES)
    coef = np.array([0.0 if SIGNAL_OF[n] is None else 1.0 for n in FEATURE_NAMES])
    return logistic.LogisticModel(FEATURE_NAMES, np.zeros(p), np.ones(p), coef, -1.0, 0.5,
                                  True, 1, 0.0, 100, 0.3)


@pytest.mark.parametrize("signal", list(SIGNALS))
def test_each_warning_signal_is_the_top_reason_of_a_customer_showing_it(signal):
    model = fixed_model()
    x = np.zeros((1, len(FEATURE_NAMES)))
    first = next(i for i, f in enumerate(FEATURES) if f.signal == signal)
    x[0, first] = 2.0
    # a smaller push from another signal comes second; controls are never reasons
    other = next(i for i, f in enumerate(FEATURES) if f.signal not in (None, signal))
    x[0, other] = 0.5
    x[0, FEATURE_NAMES.index("log_orders_365d")] = 9.0
    names, pushes = reasons.top_reasons(
        reasons.signal_pushes(model.contributions(x), FEATURE_NAMES))
    assert names[0][0] == signal
    assert names[0][1] == SIGNAL_OF[FEATURE_NAMES[other]]
    assert names[0][2] is None and np.isnan(pushes[0, 2])
    assert pushes[0, 0] == pytest.approx(2.0)


def test_a_signal_sums_its_features_and_only_positive_pushes_count():
    model = fixed_model()
    x = np.zeros((2, len(FEATURE_NAMES)))
    # complaints 0.6 + SLA misses 0.6 = 1.2 beat falling volume 1.0
    x[0, FEATURE_NAMES.index("log_complaints_90d")] = 0.6
    x[0, FEATURE_NAMES.index("log_sla_missed_90d")] = 0.6
    x[0, FEATURE_NAMES.index("volume_drop")] = 1.0
    x[1, :] = -1.0  # below average on everything: no reasons
    names, _ = reasons.top_reasons(reasons.signal_pushes(model.contributions(x), FEATURE_NAMES))
    assert names[0][:2] == ["complaints_slow_resolution", "falling_volume"]
    assert names[1] == [None, None, None]


def test_features_from_raw_signals():
    raw = pd.DataFrame({
        "customer_key": ["a", "b"],
        "first_active_date": [date(2025, 1, 1), date(2025, 6, 1)],
        "has_contract": [False, True],
        "contract_ends_90d": [False, True],
        "last_order_date": [date(2025, 12, 22), None],
        "orders_90d": [1, 0], "orders_prev_90d": [3, 0], "orders_365d": [4, 0],
        "promo_365d": [3, 0], "complaints_90d": [2, 0], "sla_missed_90d": [1, 0],
        "rep_left": [True, False], "overdue_amount": [99.0, 0.0],
        "overdue_over_30": [True, False], "satisfaction_c": [0.8, None],
        "p_no_purchase": [0.75, None], "p_contract_lapse": [0.0, 0.3],
    })
    f = features.to_features(raw, date(2026, 1, 1))
    assert list(f.columns) == list(FEATURE_NAMES)
    a, b = f.iloc[0], f.iloc[1]
    assert a["volume_drop"] == pytest.approx(np.log(4) - np.log(2))
    assert a["log_recency"] == pytest.approx(np.log1p(10))
    assert a["promo_share"] == pytest.approx(0.75)
    assert a["dissatisfaction"] == pytest.approx(0.2)
    assert a["p_no_purchase"] == pytest.approx(0.75)
    assert a["log_overdue_amount"] == pytest.approx(np.log(100))
    assert (a["rep_left"], a["overdue_over_30"], a["no_orders"]) == (1.0, 1.0, 0.0)
    # no orders: recency from the first activity, no promotion share, no survey = satisfied
    assert b["log_recency"] == pytest.approx(np.log1p(214))
    assert (b["promo_share"], b["dissatisfaction"], b["no_orders"]) == (0.0, 0.0, 1.0)
    assert b["p_no_purchase"] == 1.0  # never bought: no purchase expected
    assert (b["has_contract"], b["contract_ends_90d"], b["p_contract_lapse"]) == (1.0, 1.0, 0.3)


def test_auc_and_top_decile_lift_by_hand():
    y = np.array([1, 0, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.3, 0.2, 0.1])
    # pairs (pos, neg): 0.9 beats all 3, 0.3 beats 2 of 3 -> 5/6
    assert metrics.auc(y, s) == pytest.approx(5 / 6)
    assert metrics.auc(y, np.ones(5)) == pytest.approx(0.5)
    y10 = np.zeros(20)
    y10[[0, 1, 5, 9]] = 1
    s10 = -np.arange(20.0)  # highest scores first
    # top 10 % = first 2 rows, both churned: rate 1 vs overall 0.2 -> lift 5
    assert metrics.top_decile_lift(y10, s10) == pytest.approx(5.0)
    assert metrics.top_decile_lift(y10, np.zeros(20)) == pytest.approx(1.0)


def test_training_dates_prefer_complete_labels():
    dates, complete = labels.training_dates(date(2026, 12, 31), date(2025, 1, 1), 90, 180, 3)
    assert complete
    assert dates[-1] == date(2026, 4, 5)  # 2026-12-31 - 270 days
    assert dates == [date(2026, 2, 4), date(2026, 3, 6), date(2026, 4, 5)]
    # too little history for complete labels: the latest dates with a full horizon
    dates, complete = labels.training_dates(date(2025, 9, 1), date(2025, 1, 1), 90, 180, 3)
    assert not complete and dates[-1] == date(2025, 6, 3)
    assert labels.training_dates(date(2025, 3, 1), date(2025, 1, 1), 90, 180, 3) == ([], False)
