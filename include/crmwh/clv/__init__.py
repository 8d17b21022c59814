"""Predictive customer lifetime value: BG/NBD repeat purchases + Gamma-Gamma margin.

Modules, one job each:

- ``summary``     transactions -> per-customer (frequency x, recency t_x, age T, avg margin)
- ``bgnbd``       BG/NBD likelihood, fit, P(alive), expected purchases (Fader, Hardie & Lee 2005)
- ``gamma_gamma`` Gamma-Gamma spend model: likelihood, fit, expected average margin
- ``score``       both fitted models -> the per-customer prediction frame, discounted CLV
- ``simulate``    draw customers (and their transactions) from known parameters
- ``optim``       shared L-BFGS-B fitting in log-parameter space, grouping of identical rows
- ``nightly``     warehouse I/O: core.fct_orders -> ml.clv_predictions + audit.model_runs
- ``bench``       ``python -m crmwh.clv.bench --customers 1000000 [--record]``

Time unit: **days** throughout (recency, age, horizons); see benchmarks/clv.md.
"""
