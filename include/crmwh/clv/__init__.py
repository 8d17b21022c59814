"""Predictive customer lifetime value: BG/NBD repeat purchases + Gamma-Gamma margin.

Modules, one job each:

- ``summary``     transactions -> per-customer (frequency x, recency t_x, age T, avg margin)
- ``bgnbd``       BG/NBD likelihood, fit, P(alive), expected purchases (Fader, Hardie & Lee 2005)
- ``gamma_gamma`` Gamma-Gamma spend model: likelihood, fit, expected average margin
- ``score``       both fitted models -> the per-customer prediction frame, discounted CLV
- ``optim``       shared L-BFGS-B fitting in log-parameter space, grouping of identical rows
- ``pgbinary``    COPY binary encoding of the prediction rows
- ``nightly``     the nightly fit: core.fct_orders -> ml.clv_predictions + audit.model_runs

The order reader and the model-run rows are shared with churn (crmwh.modelling); the
tables are crmwh.warehouse.ml's. The simulator and the benchmark live in crmwh_devkit.bench.

Time unit: **days** throughout (recency, age, horizons); see benchmarks/clv.md.
"""
