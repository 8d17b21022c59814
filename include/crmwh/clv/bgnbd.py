"""The BG/NBD repeat-purchase model (Fader, Hardie & Lee 2005, "Counting your customers
the easy way", Marketing Science 24(2)).

While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha);
after each repeat purchase they drop out with probability p ~ Beta(a, b). Per customer
we observe x (repeat purchases), t_x (time of the last one, from the first purchase) and
T (age: time from first purchase to the as-of date). Time unit: days.

Formulas (equation numbers from the paper, and the note "Computing P(alive) using the
BG/NBD model", Fader, Hardie & Lee 2008):

- likelihood (eq. 6), in the log form used here::

    ll = lnG(r+x) - lnG(r) + r ln(alpha)
         + lnG(a+b) + lnG(b+x) - lnG(b) - lnG(a+b+x)
         + logaddexp( -(r+x) ln(alpha+T),
                      [x>0] (ln a - ln(b+x-1) - (r+x) ln(alpha+t_x)) )

- P(alive | x, t_x, T) = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))
  (so P(alive) = 1 when x = 0: in BG/NBD a customer can only drop out right after a
  repeat purchase)
- P(no purchase in (T, T+t] | x, t_x, T) = 1 - P(alive) (1 - ((alpha+T)/(alpha+T+t))^(r+x))
- E[X(t) | x, t_x, T] (eq. 10) = P(alive) (a+b+x-1)/(a-1)
      * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)],  z = t/(alpha+T+t)
  evaluated through Euler's transformation 2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A,C-B;C;z):
      ((alpha+T)/(alpha+T+t))^(r+x) 2F1(...) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)
  whose upper parameters do not grow with x, so the series stays well conditioned
  (the untransformed 2F1 overflows for frequent buyers).
- E[X(t)] for a new customer (eq. 7) = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r
      2F1(r, b; a+b-1; t/(alpha+t))].
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import replace
from typing import NamedTuple

import numpy as np
from scipy.integrate import IntegrationWarning, quad
from scipy.special import betaincinv, digamma, expit, gammaln, hyp2f1

from crmwh.clv.optim import FitResult, fit_log_space, group_rows

NAMES = ("r", "alpha", "a", "b")


class BgNbdParams(NamedTuple):
    r: float
    alpha: float
    a: float
    b: float


def _arrays(*cols: object) -> list[np.ndarray]:
    return [np.asarray(c, dtype=np.float64) for c in cols]


def log_likelihood(params: BgNbdParams, x: object, t_x: object, T: object) -> np.ndarray:
    """Per-customer log-likelihood (eq. 6 in log form)."""
    r, alpha, a, b = params
    x, t_x, T = _arrays(x, t_x, T)
    repeat = x > 0
    a3 = -(r + x) * np.log(alpha + T)
    safe = np.where(repeat, b + x - 1, 1.0)
    a4 = np.where(repeat, np.log(a) - np.log(safe) - (r + x) * np.log(alpha + t_x), -np.inf)
    return (
        gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        + gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        + np.logaddexp(a3, a4)
    )


class _Objective:
    """Mean negative log-likelihood and its analytic gradient in theta = log(r, alpha, a, b).

    Works on distinct (x, t_x, T) rows with weights; the terms that depend on x alone
    (log-gammas, digammas) are evaluated once per distinct x and weighted by its count.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> None:
        self.x, self.t_x, self.T, self.w = x, t_x, T, w
        self.total = float(w.sum())
        self.repeat = x > 0
        self.xm1 = np.where(self.repeat, x - 1.0, 0.0)
        xu, inv = np.unique(x, return_inverse=True)
        self.xu = xu
        self.wu = np.bincount(inv.reshape(-1), weights=w, minlength=len(xu))
        self.wx = float(np.dot(w, x))

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(theta)
        x, t_x, T, w, xu, wu = self.x, self.t_x, self.T, self.w, self.xu, self.wu
        rx = r + x
        log_aT = np.log(alpha + T)
        log_atx = np.log(alpha + t_x)
        bx1 = np.where(self.repeat, b + self.xm1, 1.0)
        a3 = -rx * log_aT
        a4 = np.where(self.repeat, np.log(a) - np.log(bx1) - rx * log_atx, -np.inf)
        lse = np.logaddexp(a3, a4)
        w2 = expit(a4 - a3)  # posterior weight of "dropped out after t_x"; 0 when x = 0
        w1 = 1.0 - w2

        xterm = (
            gammaln(r + xu) - gammaln(r) + gammaln(a + b) + gammaln(b + xu)
            - gammaln(b) - gammaln(a + b + xu)
        )
        ll = float(np.dot(wu, xterm)) + self.total * r * np.log(alpha) + float(np.dot(w, lse))

        g_r = (
            float(np.dot(wu, digamma(r + xu) - digamma(r))) + self.total * np.log(alpha)
            - float(np.dot(w, w1 * log_aT + w2 * log_atx))
        )
        g_alpha = self.total * r / alpha - float(
            np.dot(w, rx * (w1 / (alpha + T) + w2 / (alpha + t_x)))
        )
        dab = float(np.dot(wu, digamma(a + b) - digamma(a + b + xu)))
        ww2 = w * w2
        g_a = dab + float(ww2.sum()) / a
        g_b = (
            dab + float(np.dot(wu, digamma(b + xu) - digamma(b)))
            - float(np.dot(ww2, 1.0 / bx1))
        )
        grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
        if not np.isfinite(ll):
            return float("inf"), np.zeros(4)
        return -ll / self.total, -grad / self.total


def fit(
    x: object, t_x: object, T: object, *, start: BgNbdParams | None = None
) -> FitResult[BgNbdParams]:
    """Maximum-likelihood BG/NBD fit. Identical (x, t_x, T) rows are evaluated once."""
    began = time.perf_counter()
    x, t_x, T = _arrays(x, t_x, T)
    if len(x) == 0:
        raise ValueError("no customers to fit")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T) or np.any((x == 0) & (t_x != 0)):
        raise ValueError("need x >= 0, 0 <= t_x <= T, and t_x = 0 when x = 0")
    groups = group_rows(x, t_x, T)
    gx, gtx, gT = groups.columns
    objective = _Objective(gx, gtx, gT, groups.counts)
    if start is None:
        # r = 1 and a mean purchase rate r/alpha near the observed one
        alpha0 = max(float(T.sum()) / max(float(x.sum()), 1.0), 1e-3)
        start = BgNbdParams(1.0, alpha0, 1.0, 1.0)
    result = fit_log_space(
        objective, start, NAMES, lambda v: BgNbdParams(*map(float, v)),
        n_customers=len(x), n_unique=len(gx),
    )
    # the timing includes the grouping
    return replace(result, fit_seconds=time.perf_counter() - began)


def p_alive(params: BgNbdParams, x: object, t_x: object, T: object) -> np.ndarray:
    """P(still alive at T | x, t_x, T); 1 for customers without repeat purchases."""
    r, alpha, a, b = params
    x, t_x, T = _arrays(x, t_x, T)
    repeat = x > 0
    bx1 = np.where(repeat, b + x - 1, 1.0)
    log_odds = np.log(a) - np.log(bx1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(repeat, expit(-log_odds), 1.0)


def p_no_purchase(params: BgNbdParams, t: float, x: object, t_x: object, T: object
                  ) -> np.ndarray:
    """P(no purchase in (T, T + t] | x, t_x, T): dead already, or alive and silent.

    A customer alive at T buys at rate lambda with posterior Gamma(r + x, alpha + T), so
    P(silent for t | alive) = ((alpha + T) / (alpha + T + t))^(r + x); and in BG/NBD a
    customer can only drop out right after a purchase, so no purchase means no dropout inside
    the window: P = 1 - P(alive) (1 - ((alpha + T) / (alpha + T + t))^(r + x)). Equals the
    likelihood ratio L(x, t_x, T + t) / L(x, t_x, T). Unlike P(alive) it is below 1 for
    one-time buyers and falls with their purchase rate."""
    r, alpha, _, _ = params
    x, t_x, T = _arrays(x, t_x, T)
    silent = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
    return 1.0 - p_alive(params, x, t_x, T) * (1.0 - silent)


A_NEAR_ONE = 1e-4  # within this of a = 1, interpolate across the removable singularity
R_NUDGE = 1e-7  # relative step off r when SciPy's 2F1 fails (degenerate integer cases)


def _euler_future(r: float, alpha: float, a: float, b: float,
                  x: np.ndarray, T: np.ndarray, t: np.ndarray, *, nudge: bool = True
                  ) -> np.ndarray:
    """(a+b+x-1)/(a-1) [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)], z = t/(alpha+T+t),
    for 1-D arrays of equal length."""
    am1 = a - 1.0
    log_1mz = np.log(alpha + T) - np.log(alpha + T + t)  # log(1 - z), exact for small z
    z = -np.expm1(log_1mz)
    c = a + b + x - 1.0
    with np.errstate(all="ignore"):
        out = (c / am1) * (1.0 - np.exp(am1 * log_1mz) * hyp2f1(a + b - 1.0 - r, am1, c, z))
    bad = ~np.isfinite(out)
    if not bad.any():
        return out
    if nudge:
        # SciPy's 2F1 returns NaN when c - A - B = x + r - a + 1 is an integer (the
        # logarithmic case of its z -> 1 - z transformation). The function is smooth in
        # r: average the values just either side.
        lo, hi = (_euler_future(r * f, alpha, a, b, x[bad], T[bad], t[bad], nudge=False)
                  for f in (1 - R_NUDGE, 1 + R_NUDGE))
        out[bad] = 0.5 * (lo + hi)
        bad = ~np.isfinite(out)
    for i in np.flatnonzero(bad):  # 2F1 over/underflow in extreme corners: integrate
        out[i] = _future_by_quadrature(r, alpha, a, b, x[i], T[i], t[i])
    return out


def _future_by_quadrature(r: float, alpha: float, a: float, b: float,
                          x: float, T: float, t: float) -> float:
    """The same expectation straight from the model, for the rare cases 2F1 cannot do:
    given alive at T, lambda ~ Gamma(r+x, alpha+T) and p ~ Beta(a, b+x), and
    E[X(t) | lambda, p] = (1 - exp(-lambda p t)) / p. Integrating lambda out leaves
    E_p[(1 - (1 + p k)^-(r+x)) / p], k = t/(alpha+T), taken over the Beta quantile u."""
    k = t / (alpha + T)
    n = r + x

    def integrand(u: float) -> float:
        p = float(betaincinv(a, b + x, u))
        return -math.expm1(-n * math.log1p(p * k)) / p if p > 0 else n * k

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntegrationWarning)
        return float(quad(integrand, 0.0, 1.0, epsabs=0.0, epsrel=1e-10, limit=500)[0])


def future_factor(params: BgNbdParams, t: object, x: object, T: object) -> np.ndarray:
    """E[X(T, T+t) | alive at T, x, T]: the eq. 10 numerator, which needs only (x, T).

    Evaluated with Euler's transformation (see the module docstring). Near a = 1, where
    the form is 0/0, it is interpolated linearly between a = 1 -/+ 1e-4.
    """
    r, alpha, a, b = params
    x, T, t = np.broadcast_arrays(*_arrays(x, T, t))
    shape = x.shape
    x, T, t = x.ravel(), T.ravel(), t.ravel()
    positive = t > 0
    t = np.where(positive, t, 1.0)
    if abs(a - 1.0) >= A_NEAR_ONE:
        out = _euler_future(r, alpha, a, b, x, T, t)
    else:
        lo = _euler_future(r, alpha, 1.0 - A_NEAR_ONE, b, x, T, t)
        hi = _euler_future(r, alpha, 1.0 + A_NEAR_ONE, b, x, T, t)
        out = lo + (a - (1.0 - A_NEAR_ONE)) / (2 * A_NEAR_ONE) * (hi - lo)
    return np.where(positive, out, 0.0).reshape(shape)


def conditional_expected_purchases(
    params: BgNbdParams, t: float, x: object, t_x: object, T: object
) -> np.ndarray:
    """E[X(t) | x, t_x, T]: expected repeat purchases in the next ``t`` days (eq. 10)."""
    x, t_x, T = np.broadcast_arrays(*_arrays(x, t_x, T))
    shape = x.shape
    x, t_x, T = x.ravel(), t_x.ravel(), T.ravel()
    out = p_alive(params, x, t_x, T) * future_factors(params, [t], x, T)[0]
    return out.reshape(shape)


def expected_purchases_new(params: BgNbdParams, t: object) -> np.ndarray:
    """E[X(t)]: expected repeat purchases in (0, t] of a customer just acquired (eq. 7),
    which is eq. 10's numerator at x = 0, T = 0."""
    return future_factor(params, t, 0.0, 0.0)


def future_factors(
    params: BgNbdParams, times: list[float], x: np.ndarray, T: np.ndarray
) -> list[np.ndarray]:
    """future_factor for several horizons, evaluated once per distinct (x, T) (1-D input)."""
    groups = group_rows(x, T)
    gx, gT = groups.columns
    return [future_factor(params, t, gx, gT)[groups.inverse] for t in times]


def discounted_expected_purchases(
    params: BgNbdParams,
    x: object,
    t_x: object,
    T: object,
    *,
    horizon_days: float,
    step_days: float,
    annual_discount: float,
) -> np.ndarray:
    """sum_k (E[X(t_k)] - E[X(t_{k-1})]) / (1 + d)^(t_k / 365), t_k = k * step_days.

    Purchases expected during step k are discounted from the end of that step (the
    convention of lifetimes' ``customer_lifetime_value``). ``horizon_days`` is rounded
    to a whole number of steps. Evaluated once per distinct (x, T), then scaled by
    P(alive) per customer.
    """
    x, t_x, T = (c.ravel() for c in np.broadcast_arrays(*_arrays(x, t_x, T)))
    steps = max(int(round(horizon_days / step_days)), 1)
    groups = group_rows(x, T)
    gx, gT = groups.columns
    total = np.zeros(len(gx))
    previous = np.zeros(len(gx))
    for k in range(1, steps + 1):
        t = k * step_days
        current = future_factor(params, t, gx, gT)
        total += (current - previous) / (1.0 + annual_discount) ** (t / 365.0)
        previous = current
    return p_alive(params, x, t_x, T) * total[groups.inverse]
