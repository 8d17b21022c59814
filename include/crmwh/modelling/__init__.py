"""Warehouse I/O shared by the model fits (crmwh.clv, crmwh.churn): ``orders`` reads the
order history, ``model_runs`` records each fit in ``audit.model_runs``."""
