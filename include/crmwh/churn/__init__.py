"""Churn risk (DOMAIN §4): point-in-time features from ``core``, labels from the
warehouse's own churn definitions (``core.fct_churn_events``), three candidate models, per-customer
reasons, the nightly scoring step and an honest backtest against simple baselines.

Modules: ``signals`` (the DOMAIN §4 warning signals and the model's features), ``features``
(feature SQL and the purchase model's P(no purchase) at any as-of date), ``renewals`` (the sBG
renewal model for contracts), ``labels`` (population and training labels), ``gbm`` (monotone
gradient-boosted trees, calibrated), ``logistic`` (sign-constrained logistic regression),
``purchase_baseline`` (P(no purchase) calibrated to churn), ``reasons`` (top reasons per
customer), ``train`` (fit the candidates, choose, score at one date), ``nightly`` (writes
``ml.churn_scores`` and ``audit.model_runs``), ``backtest`` (the candidates and the baselines
against the real outcome), ``metrics`` (ROC AUC, PR AUC, lift, Brier, calibration).
"""
