"""Draw customers from known BG/NBD and Gamma-Gamma parameters (tests and benchmark).

BG/NBD, per customer: lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b). The customer dies
right after repeat purchase K ~ Geometric(p) (K >= 1). Purchases arrive as a Poisson
process with rate lambda, so with n = N(T) ~ Poisson(lambda T) arrivals in (0, T]:
x = min(n, K) and, given n, the x-th arrival time is T * Beta(x, n - x + 1) (an order
statistic of n uniforms). The x - 1 earlier arrivals are uniform on (0, t_x).

Gamma-Gamma: nu ~ Gamma(q, rate v) per customer, each purchase's value ~ Gamma(p, rate
nu); the mean of x values is Gamma(p x, rate x nu).
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd

from crmwh.clv.bgnbd import BgNbdParams
from crmwh.clv.gamma_gamma import GammaGammaParams


class Customers(NamedTuple):
    x: np.ndarray  # repeat purchases in (0, T]
    t_x: np.ndarray  # time of the last repeat purchase (0 when x = 0)
    T: np.ndarray  # age at the end of the observation
    lam: np.ndarray  # latent purchase rate
    p: np.ndarray  # latent dropout probability
    alive: np.ndarray  # still alive at T
    future: np.ndarray  # repeat purchases in (T, T + holdout]


def bgnbd(
    params: BgNbdParams, T: np.ndarray, rng: np.random.Generator, *, holdout: float = 0.0
) -> Customers:
    """One customer per entry of ``T`` (continuous time); ``future`` counts purchases
    in the ``holdout`` period after T."""
    r, alpha, a, b = params
    T = np.asarray(T, dtype=np.float64)
    n = len(T)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = np.clip(rng.beta(a, b, n), 1e-12, 1.0)
    death_after = rng.geometric(p)  # >= 1
    arrivals = rng.poisson(lam * T)
    x = np.minimum(arrivals, death_after)
    t_x = np.zeros(n)
    some = x > 0
    t_x[some] = T[some] * rng.beta(x[some], arrivals[some] - x[some] + 1)
    later = rng.poisson(lam * holdout) if holdout > 0 else np.zeros(n, dtype=np.int64)
    future = np.minimum(arrivals + later, death_after) - x
    return Customers(x.astype(np.float64), t_x, T, lam, p, arrivals < death_after,
                     future.astype(np.float64))


def gamma_gamma_means(
    params: GammaGammaParams, x: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The mean value of ``x`` purchases per customer (NaN when x = 0)."""
    p, q, v = params
    x = np.asarray(x, dtype=np.float64)
    nu = rng.gamma(q, 1.0 / v, len(x))
    some = x > 0
    m = np.full(len(x), np.nan)
    m[some] = rng.gamma(p * x[some], 1.0 / (x[some] * nu[some]))
    return m


def day_summary(
    bg: BgNbdParams,
    gg: GammaGammaParams,
    customers: int,
    rng: np.random.Generator,
    *,
    max_age_days: int = 1095,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T, avg margin) at the warehouse's day resolution: ages uniform on
    [0, max_age_days] whole days, t_x floored to whole days (the benchmark's input)."""
    T = rng.integers(0, max_age_days + 1, customers).astype(np.float64)
    sim = bgnbd(bg, T, rng)
    return sim.x, np.floor(sim.t_x), T, gamma_gamma_means(gg, sim.x, rng)


def transactions(
    bg: BgNbdParams,
    gg: GammaGammaParams,
    customers: int,
    as_of_date: date,
    rng: np.random.Generator,
    *,
    max_age_days: int = 730,
    key_prefix: str = "C",
) -> pd.DataFrame:
    """Order-level rows (customer_key, order_date, gross_margin) up to ``as_of_date``.

    Parameters are per day. Each customer's first order is ``T`` whole days before the
    as-of date; repeat orders fall at the simulated times, floored to days (two orders
    can then share a day, which the summary counts as one purchase day).
    """
    T = rng.integers(0, max_age_days + 1, customers).astype(np.float64)
    sim = bgnbd(bg, T, rng)
    x = sim.x.astype(np.int64)
    nu = rng.gamma(gg.q, 1.0 / gg.v, customers)
    counts = x + 1  # the first purchase and the repeats
    owner = np.repeat(np.arange(customers), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(counts.sum()) - np.repeat(starts, counts)  # 0 = first purchase
    t_last = np.repeat(sim.t_x, counts)
    times = np.where(
        rank == 0, 0.0,
        np.where(rank == np.repeat(x, counts), t_last, rng.uniform(0, 1, len(owner)) * t_last),
    )
    offsets = np.floor(times).astype(np.int64)
    first_day = np.datetime64(as_of_date, "D") - np.repeat(T.astype(np.int64), counts)
    margin = rng.gamma(gg.p, 1.0 / nu[owner])
    width = max(len(str(customers)), 6)
    keys = np.char.add(key_prefix, np.char.zfill(np.arange(customers).astype(str), width))
    return pd.DataFrame({
        "customer_key": keys[owner],
        "order_date": (first_day + offsets).astype("datetime64[D]").astype(object),
        "gross_margin": np.round(margin, 2),
    })
