"""L2-regularised logistic regression with sign constraints, fitted with SciPy's L-BFGS-B.

Features are standardised with the training mean and standard deviation; the objective is
the summed log-loss plus ``l2 / 2 * ||beta||^2`` (the intercept is not penalised), with the
analytic gradient. Coefficients marked non-negative are bounded at 0 from below (warning
signals can only raise the risk, :mod:`crmwh.churn.signals`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.special import expit, log_expit

from crmwh.churn import reasons


@dataclass(frozen=True)
class LogisticModel:
    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # per standardised feature
    intercept: float
    log_loss: float  # mean training log-loss
    converged: bool
    iterations: int
    fit_seconds: float
    n_rows: int
    positive_rate: float

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(label = 1) per row."""
        return expit(self.standardise(x) @ self.coef + self.intercept)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per row and feature: coef x standardised value, the feature's push on the log-odds
        relative to the average training customer."""
        return self.standardise(x) * self.coef

    def signal_pushes(self, x: np.ndarray) -> np.ndarray:
        """(n x signals) summed contributions per warning signal (:mod:`crmwh.churn.reasons`)."""
        return reasons.signal_pushes(self.contributions(x), self.names)

    def params(self) -> dict[str, float]:
        out = {"intercept": self.intercept}
        out.update({f"coef_{n}": float(c) for n, c in zip(self.names, self.coef, strict=True)})
        return out


def fit(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], *, l2: float = 1.0,
        nonnegative: np.ndarray | None = None, max_iter: int = 500) -> LogisticModel:
    """Fit on rows ``x`` (n x p) and labels ``y`` (0/1)."""
    began = time.perf_counter()
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, p = x.shape
    if n == 0 or y.min() == y.max():
        raise ValueError("logistic fit needs rows of both classes")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    z = (x - mean) / scale
    rate = float(y.mean())

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        eta = z @ w[1:] + w[0]
        loss = -(y * log_expit(eta) + (1 - y) * log_expit(-eta)).sum()
        resid = expit(eta) - y
        grad = np.empty_like(w)
        grad[0] = resid.sum()
        grad[1:] = z.T @ resid + l2 * w[1:]
        return float(loss + 0.5 * l2 * w[1:] @ w[1:]), grad

    lower = np.where(nonnegative, 0.0, -np.inf) if nonnegative is not None else np.full(p, -np.inf)
    bounds = [(None, None)] + [(lo if np.isfinite(lo) else None, None) for lo in lower]
    start = np.zeros(p + 1)
    start[0] = np.log(rate / (1 - rate))
    result = optimize.minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                               options={"maxiter": max_iter})
    w = result.x
    eta = z @ w[1:] + w[0]
    log_loss = float(-(y * log_expit(eta) + (1 - y) * log_expit(-eta)).mean())
    return LogisticModel(names=tuple(names), mean=mean, scale=scale, coef=w[1:].copy(),
                         intercept=float(w[0]), log_loss=log_loss, converged=bool(result.success),
                         iterations=int(result.nit), fit_seconds=time.perf_counter() - began,
                         n_rows=n, positive_rate=rate)
