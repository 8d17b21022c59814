"""Churn risk (DOMAIN §4): point-in-time features from ``core``, labels from the
warehouse's own churn definitions (``core.fct_churn_events``), a regularised logistic
regression, per-customer reasons, the nightly scoring step and an honest backtest.

Modules: ``signals`` (the DOMAIN §4 warning signals and the model's features), ``features``
(feature SQL at any as-of date), ``labels`` (population and training labels), ``logistic``
(the model), ``reasons`` (top reasons per customer), ``train`` (fit + score at one date),
``nightly`` (writes ``ml.churn_scores`` and ``audit.model_runs``), ``backtest``
(ground-truth evaluation against a recency-only baseline).
"""
