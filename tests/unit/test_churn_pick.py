"""What the marts score with after a backtest (crmwh.churn.backtest.pick), the training
sample's size, and the tree reasons computed only where a signal moved."""

from __future__ import annotations

import numpy as np
import pytest

from crmwh.churn import backtest, features, gbm, train
from crmwh.churn.signals import FEATURE_NAMES, SIGNAL_OF


def table(**overrides: tuple[float, float, float | None]) -> dict[str, dict]:
    """Mean backtest figures: the three baselines ranked as on CDNOW, constants, candidates."""
    rows = {"recency": (0.64, 1.31, None), "rfm": (0.68, 1.35, None),
            "bgnbd_p_no_purchase": (0.71, 1.38, 0.205),
            "bgnbd_expected_purchases": (0.71, 1.39, None),
            "past_rate": (0.5, 1.0, 0.27), "base_rate": (0.5, 1.0, 0.24),
            "churn_gbm": (0.63, 1.23, 0.27), "churn_logistic": (0.66, 1.34, 0.29),
            "bgnbd_no_purchase": (0.71, 1.38, 0.26)} | overrides
    return {n: {"auc": a, "lift10": lift, **({"brier": b} if b is not None else {})}
            for n, (a, lift, b) in rows.items()}


def test_a_learned_model_is_used_only_where_it_beats_every_baseline():
    assert backtest.pick(table())[0] == "bgnbd_p_no_purchase"  # nothing beats: best baseline
    winner = table(churn_logistic=(0.75, 1.5, 0.20))
    assert backtest.pick(winner) == ("churn_logistic", "beats every baseline")
    # better ranking but probabilities worse than the training period's base rate: no
    assert backtest.pick(table(churn_logistic=(0.75, 1.5, 0.28)))[0] == "bgnbd_p_no_purchase"
    # better AUC, lift below one baseline's: no
    assert backtest.pick(table(churn_logistic=(0.75, 1.385, 0.20)))[0] == "bgnbd_p_no_purchase"
    # of two winners the better ROC AUC
    both = table(churn_logistic=(0.75, 1.5, 0.20), churn_gbm=(0.77, 1.45, 0.22))
    assert backtest.pick(both)[0] == "churn_gbm"


def test_the_fallback_is_the_purchase_probability_with_the_better_brier_score():
    calibrated = table(bgnbd_no_purchase=(0.71, 1.38, 0.19))
    assert backtest.pick(calibrated)[0] == "bgnbd_no_purchase"
    # a backtest without the training period's base rate cannot show a learned model wins
    old = table(churn_logistic=(0.75, 1.5, 0.20))
    del old["past_rate"]
    assert backtest.pick(old)[0] == "bgnbd_p_no_purchase"


def test_training_reads_a_customer_sample_sized_to_the_row_cap():
    assert train.sample_share(30_000, 6, 200_000) == 1.0
    share = train.sample_share(1_000_000, 6, 200_000)
    assert share * 1_000_000 * 6 == pytest.approx(train.OVERSAMPLE * 200_000)
    assert features.sample_condition(1.0) == "true"
    assert "hashtext(customer_key::text)" in features.sample_condition(share)
    assert len(features.fit_sample(50)) == 50
    rows = features.fit_sample(features.FIT_CUSTOMERS + 10)
    assert len(rows) == features.FIT_CUSTOMERS and len(set(rows)) == len(rows)


def test_tree_pushes_skip_nothing_that_matters():
    rng = np.random.default_rng(3)
    x = rng.random((600, len(FEATURE_NAMES)))
    x[rng.random(600) < 0.6, FEATURE_NAMES.index("log_complaints_90d")] = 0.0
    x[:, FEATURE_NAMES.index("rep_left")] = (rng.random(600) < 0.1).astype(float)
    y = (rng.random(600) < 0.3 + 0.4 * x[:, 0]).astype(float)
    model = gbm.fit(x, y, FEATURE_NAMES, SIGNAL_OF, gbm.fold_of(np.arange(600), 3))[0]
    now, pushes = model.log_odds(x), model.signal_pushes(x)
    for k, signal in enumerate(gbm.SIGNAL_NAMES):
        columns = [j for j, n in enumerate(FEATURE_NAMES) if SIGNAL_OF[n] == signal]
        typical = x.copy()
        typical[:, columns] = model.reference[columns]
        np.testing.assert_allclose(pushes[:, k], now - model.log_odds(typical), atol=1e-12)
