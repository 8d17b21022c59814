"""Contract renewals: a shifted-beta-geometric (sBG) model of whether a contract term is
renewed (Fader & Hardie 2007, "How to project customer retention", J. Interactive
Marketing 21(1)).

Each contract customer lapses at the end of a term with probability theta, the same for
every term of that customer, theta ~ Beta(alpha, beta) across customers. A customer whose
chain of recurring contracts has been renewed k times then lapsed contributes
P(T = k + 1) = B(alpha + 1, beta + k) / B(alpha, beta); one still in force after k renewals
contributes S(k) = B(alpha, beta + k) / B(alpha, beta). The chance that the next term end
is not renewed after k renewals is alpha / (alpha + beta + k): customers who renewed often
are the ones with a low theta.

The data as known on a date (contracts started by then; a term counts as renewed when its
successor started by then, as lapsed when it ended or was cancelled by then without one).
The churn feature ``p_contract_lapse``: for a customer whose contract in force ends within the
churn horizon, the chance that end is not renewed; 0 otherwise.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd
import psycopg
from scipy import optimize
from scipy.special import betaln

MIN_LAPSES = 5

CHAINS_SQL = """
with terms as (
    select customer_key, contract_id, renewal_of_contract_id, end_date,
        case when cancelled_at < %(as_of_end)s then cancelled_at::date end as cancelled_on
    from core.dim_contract
    where is_current and is_recurring and customer_key is not null
      and start_date <= %(as_of_date)s
)
select t.customer_key,
    count(*) filter (where t.renewal_of_contract_id is not null) as renewals,
    bool_or(next.contract_id is null and (t.cancelled_on is not null
                                          or t.end_date < %(as_of_date)s)) as lapsed
from terms as t
left join terms as next on next.renewal_of_contract_id = t.contract_id
group by t.customer_key
"""


class SbgParams(NamedTuple):
    alpha: float
    beta: float


def log_likelihood(params: SbgParams, renewals: np.ndarray, lapsed: np.ndarray) -> np.ndarray:
    """Per customer: log P(T = k + 1) when lapsed after k renewals, log S(k) when not."""
    a, b = params
    k = np.asarray(renewals, dtype=np.float64)
    lapsed = np.asarray(lapsed, dtype=bool)
    return np.where(lapsed, betaln(a + 1, b + k), betaln(a, b + k)) - betaln(a, b)


def fit(renewals: np.ndarray, lapsed: np.ndarray) -> SbgParams:
    """Maximum likelihood (log-parameters, Nelder-Mead on the two of them). Customers with the
    same (renewals, lapsed) are evaluated once, weighted by their count: a few dozen distinct
    chains however many customers."""
    chains = np.c_[np.asarray(renewals, dtype=np.float64),
                   np.asarray(lapsed, dtype=bool).astype(np.float64)]
    distinct, count = np.unique(chains, axis=0, return_counts=True)
    k, ended = distinct[:, 0], distinct[:, 1].astype(bool)

    def objective(theta: np.ndarray) -> float:
        value = -(count * log_likelihood(SbgParams(*np.exp(theta)), k, ended)).sum()
        return float(value) if np.isfinite(value) else 1e300

    result = optimize.minimize(objective, np.zeros(2), method="Nelder-Mead",
                               options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 2000})
    return SbgParams(*map(float, np.exp(result.x)))


def p_lapse(params: SbgParams, renewals: np.ndarray) -> np.ndarray:
    """P(the next term end is not renewed | k renewals so far) = alpha / (alpha + beta + k)."""
    k = np.asarray(renewals, dtype=np.float64)
    return params.alpha / (params.alpha + params.beta + k)


def contract_lapse(conn: psycopg.Connection, as_of_date: date, as_of_end: object,
                   frame: pd.DataFrame, horizon: int) -> np.ndarray:
    """``p_contract_lapse`` per row of ``frame`` (customer_key, has_contract,
    contract_end_date): the sBG chance that the contract in force, ending within ``horizon``
    days, is not renewed; 0 for the others. With fewer than MIN_LAPSES lapses known, the
    share of ended terms that lapsed stands in for the model."""
    cur = conn.execute(CHAINS_SQL, {"as_of_date": as_of_date, "as_of_end": as_of_end})
    chains = pd.DataFrame(cur.fetchall(), columns=["customer_key", "renewals", "lapsed"])
    out = np.zeros(len(frame))
    if chains.empty:
        return out
    k = chains["renewals"].to_numpy(dtype=np.float64)
    lapsed = chains["lapsed"].fillna(False).to_numpy(dtype=bool)
    renewals = pd.Series(k, index=chains["customer_key"].to_numpy()).reindex(
        frame["customer_key"].to_numpy()).fillna(0.0).to_numpy()
    if lapsed.sum() >= MIN_LAPSES:
        chance = p_lapse(fit(k, lapsed), renewals)
    else:
        ended = k.sum() + lapsed.sum()
        chance = np.full(len(frame), lapsed.sum() / ended if ended else 0.0)
    end = pd.to_datetime(frame["contract_end_date"])
    days = (end - pd.Timestamp(as_of_date)).dt.days
    ending = (frame["has_contract"].to_numpy(dtype=bool)
              & days.between(1, horizon).to_numpy(dtype=bool))
    out[ending] = chance[ending]
    return out
