"""Rows of ``audit.model_runs``: one per model fit (CLV, churn, backtests), keyed by
:func:`model_run_id`; a rerun with the same run id overwrites its row."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from crmwh.warehouse.audit import MODEL_RUNS

UPSERT = f"""
    insert into {MODEL_RUNS} (model_run_id, run_id, model, as_of_date, n_customers, params,
        log_likelihood, converged, iterations, fit_seconds, score_seconds, metrics, status)
    values (%(model_run_id)s, %(run_id)s, %(model)s, %(as_of_date)s, %(n_customers)s,
        %(params)s, %(log_likelihood)s, %(converged)s, %(iterations)s, %(fit_seconds)s,
        %(score_seconds)s, %(metrics)s, %(status)s)
    on conflict (model_run_id) do update set
        run_id = excluded.run_id, model = excluded.model, as_of_date = excluded.as_of_date,
        n_customers = excluded.n_customers, params = excluded.params,
        log_likelihood = excluded.log_likelihood, converged = excluded.converged,
        iterations = excluded.iterations, fit_seconds = excluded.fit_seconds,
        score_seconds = excluded.score_seconds, metrics = excluded.metrics,
        status = excluded.status, created_at = now()"""


def model_run_id(as_of_date: date, run_id: str, model: str) -> str:
    return f"{as_of_date.isoformat()}/{run_id}/{model}"


def json_safe(value: Any) -> Any:
    """``value`` for a jsonb column: NaN and infinities become null, NumPy floats Python ones."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value
