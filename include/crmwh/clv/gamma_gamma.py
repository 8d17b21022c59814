"""The Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value
Curves for Customer Base Analysis", JMR 42(4); the note "The Gamma-Gamma Model of
Monetary Value", Fader & Hardie 2013).

Each transaction's value z ~ Gamma(p, nu), and nu ~ Gamma(q, v) across customers
(rate parametrisation). Then the mean m_x of x transactions has, given nu, the
distribution Gamma(p x, nu x), and integrating nu out gives the likelihood::

    ll = lnG(p x + q) - lnG(p x) - lnG(q) + q ln v + (p x - 1) ln m_x + p x ln x
         - (p x + q) ln(v + x m_x)

Conditional expected average value (a credibility-weighted mean of the population mean
p v / (q - 1) and the customer's own m_x)::

    E[M | x, m_x] = p (v + x m_x) / (p x + q - 1)

Here the "value" is gross margin, x is the number of repeat purchase days and m_x the
mean margin of those repeat purchase days (the first purchase is left out, as in the
paper's CDNOW application and lifetimes). The fit uses customers with x >= 1 and
m_x > 0 only; q is kept above 1 so that the mean is finite.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import NamedTuple

import numpy as np
from scipy.special import digamma, gammaln

from crmwh.clv.optim import FitResult, fit_log_space

NAMES = ("p", "q", "v")
Q_MIN = 1.0 + 1e-6


class GammaGammaParams(NamedTuple):
    p: float
    q: float
    v: float


def log_likelihood(params: GammaGammaParams, x: object, m: object) -> np.ndarray:
    """Per-customer log-likelihood of the observed mean value ``m`` of ``x`` transactions."""
    p, q, v = params
    x = np.asarray(x, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    px = p * x
    return (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
        + (px - 1.0) * np.log(m) + px * np.log(x) - (px + q) * np.log(v + x * m)
    )


def usable(x: object, m: object) -> np.ndarray:
    """Which customers the model can be fitted on: x >= 1 and a positive finite m."""
    x = np.asarray(x, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    return (x >= 1) & np.isfinite(m) & (m > 0)


class _Objective:
    """Mean negative log-likelihood and analytic gradient in theta = log(p, q, v)."""

    def __init__(self, x: np.ndarray, m: np.ndarray) -> None:
        self.x, self.m = x, m
        self.n = float(len(x))
        xu, inv = np.unique(x, return_inverse=True)
        self.xu = xu
        self.wu = np.bincount(inv.reshape(-1), minlength=len(xu)).astype(np.float64)
        log_m = np.log(m)
        self.sum_log_m = float(log_m.sum())
        self.sum_x_log_m = float(np.dot(x, log_m))
        self.sum_x_log_x = float(np.dot(x, np.log(x)))
        self.sum_x = float(x.sum())

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, v = np.exp(theta)
        x, m, xu, wu, n = self.x, self.m, self.xu, self.wu, self.n
        log_vxm = np.log(v + x * m)
        pxu = p * xu
        ll = (
            float(np.dot(wu, gammaln(pxu + q) - gammaln(pxu))) - n * gammaln(q) + n * q * np.log(v)
            + p * self.sum_x_log_m - self.sum_log_m + p * self.sum_x_log_x
            - p * float(np.dot(x, log_vxm)) - q * float(log_vxm.sum())
        )
        psi_pq = digamma(pxu + q)
        g_p = (
            float(np.dot(wu, xu * (psi_pq - digamma(pxu))))
            + self.sum_x_log_m + self.sum_x_log_x - float(np.dot(x, log_vxm))
        )
        g_q = float(np.dot(wu, psi_pq)) - n * digamma(q) + n * np.log(v) - float(log_vxm.sum())
        g_v = n * q / v - float(((p * x + q) / (v + x * m)).sum())
        grad = np.array([g_p * p, g_q * q, g_v * v])
        if not np.isfinite(ll):
            return float("inf"), np.zeros(3)
        return -ll / n, -grad / n


def fit(
    x: object, m: object, *, start: GammaGammaParams | None = None
) -> FitResult[GammaGammaParams]:
    """Maximum-likelihood Gamma-Gamma fit on the usable customers (see ``usable``)."""
    began = time.perf_counter()
    x = np.asarray(x, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    keep = usable(x, m)
    x, m = x[keep], m[keep]
    if len(x) == 0:
        raise ValueError("no customers with repeat purchases and a positive mean value")
    if start is None:
        # p = 1, q = 2: the population mean p v / (q - 1) equals the observed mean
        start = GammaGammaParams(1.0, 2.0, max(float(m.mean()), 1e-6))
    result = fit_log_space(
        _Objective(x, m), start, NAMES, lambda t: GammaGammaParams(*map(float, t)),
        n_customers=len(x), n_unique=len(x), lower=(None, Q_MIN, None),
    )
    return replace(result, fit_seconds=time.perf_counter() - began)


def population_mean(params: GammaGammaParams) -> float:
    """E[M] for a customer we know nothing about: p v / (q - 1)."""
    p, q, v = params
    return p * v / (q - 1.0)


def conditional_expected_average(params: GammaGammaParams, x: object, m: object) -> np.ndarray:
    """E[M | x, m_x] = p (v + x m_x) / (p x + q - 1).

    Customers with no repeat purchase (x = 0) or no known mean get the population mean.
    For a non-positive observed mean (a customer whose repeat orders lose money, outside
    the model's support) the same credibility weighting is applied to the observed mean
    as is, so that consistent loss-makers keep a low or negative expected margin.
    """
    p, q, v = params
    x = np.asarray(x, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    known = (x >= 1) & np.isfinite(m)
    xe = np.where(known, x, 0.0)
    me = np.where(known, m, 0.0)
    return p * (v + xe * me) / (p * xe + q - 1.0)
