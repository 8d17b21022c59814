"""Both fitted models -> per-customer predictions, including the discounted CLV.

Discounting (project defaults, DOMAIN §2: 10 % a year over a 3-year horizon) is in
**monthly steps**: the horizon is cut into 12 steps a year of 365/12 days, the margin
expected from the purchases of step k is discounted from the end of step k::

    CLV = E[M | x, m_x] * sum_{k=1}^{12 H} (E[X(t_k)|.] - E[X(t_{k-1})|.]) / (1 + d)^(k/12)

with t_k = k * 365/12 days. This is lifetimes' ``customer_lifetime_value`` with the
equivalent monthly rate (1 + d)^(1/12) - 1 and months of 365/12 instead of 30 days.
It assumes, like the Gamma-Gamma model, that spend is independent of the purchase
process.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from crmwh.clv import bgnbd, gamma_gamma
from crmwh.clv.bgnbd import BgNbdParams
from crmwh.clv.gamma_gamma import GammaGammaParams

DAYS_PER_YEAR = 365.0
STEPS_PER_YEAR = 12

PREDICTION_COLUMNS = (
    "p_alive",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "expected_avg_margin",
    "expected_margin_365d",
    "clv_predicted",
)


class Scored(NamedTuple):
    columns: dict[str, np.ndarray]
    seconds: dict[str, float]  # per step: bgnbd (P(alive), E[X]), gamma_gamma, clv


def score(
    bg: BgNbdParams,
    gg: GammaGammaParams,
    x: object,
    t_x: object,
    T: object,
    avg_margin: object,
    *,
    horizon_years: float = 3.0,
    annual_discount: float = 0.10,
) -> Scored:
    """The prediction columns (``PREDICTION_COLUMNS``) for each customer, in days."""
    x = np.asarray(x, dtype=np.float64)
    t_x = np.asarray(t_x, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    seconds: dict[str, float] = {}

    began = time.perf_counter()
    alive = bgnbd.p_alive(bg, x, t_x, T)
    f90, f365 = bgnbd.future_factors(bg, [90.0, DAYS_PER_YEAR], x, T)
    e90 = alive * f90
    e365 = alive * f365
    seconds["bgnbd"] = time.perf_counter() - began

    began = time.perf_counter()
    margin = gamma_gamma.conditional_expected_average(gg, x, avg_margin)
    seconds["gamma_gamma"] = time.perf_counter() - began

    began = time.perf_counter()
    discounted = bgnbd.discounted_expected_purchases(
        bg, x, t_x, T,
        horizon_days=horizon_years * DAYS_PER_YEAR,
        step_days=DAYS_PER_YEAR / STEPS_PER_YEAR,
        annual_discount=annual_discount,
    )
    clv = margin * discounted
    seconds["clv"] = time.perf_counter() - began

    return Scored(
        {
            "p_alive": alive,
            "expected_purchases_90d": e90,
            "expected_purchases_365d": e365,
            "expected_avg_margin": margin,
            "expected_margin_365d": e365 * margin,
            "clv_predicted": clv,
        },
        seconds,
    )
