"""Shared fitting machinery: L-BFGS-B in log-parameter space, and grouping of identical rows.

Both models are fitted by maximum likelihood over strictly positive parameters. We
optimise theta = log(params) so that the problem is unconstrained in practice (wide
box bounds only keep ``exp`` finite), with the analytic gradient of the *mean*
log-likelihood per customer, so that the objective and gradient are O(1) whatever the
number of customers. Standard errors come from the observed information: the Hessian
of the total negative log-likelihood in theta, by central differences of the analytic
gradient, mapped back with the delta method (se(param) = param * se(theta)).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

import numpy as np
from scipy.optimize import minimize

P = TypeVar("P", bound=tuple)

LOG_BOUND = 20.0  # |log(param)| <= 20: params within [2e-9, 5e8]


@dataclass(frozen=True)
class FitResult(Generic[P]):
    """The outcome of one maximum-likelihood fit."""

    params: P
    log_likelihood: float  # total over all customers used in the fit
    converged: bool
    iterations: int
    evaluations: int
    message: str
    n_customers: int  # customers used in the fit
    n_unique: int  # distinct likelihood rows actually evaluated (after grouping)
    fit_seconds: float
    std_errors: dict[str, float] = field(default_factory=dict)
    at_bound: tuple[str, ...] = ()

    def params_dict(self) -> dict[str, float]:
        fields = self.params._asdict()  # type: ignore[attr-defined]  # a NamedTuple
        return {k: float(v) for k, v in fields.items()}

    def metrics(self) -> dict[str, object]:
        return {
            "mean_log_likelihood": self.log_likelihood / max(self.n_customers, 1),
            "evaluations": self.evaluations,
            "message": self.message,
            "n_unique_rows": self.n_unique,
            "std_errors": self.std_errors,
            "at_bound": list(self.at_bound),
        }


def fit_log_space(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    start: Sequence[float],
    names: Sequence[str],
    make_params: Callable[[np.ndarray], P],
    *,
    n_customers: int,
    n_unique: int,
    lower: Sequence[float] | None = None,
    maxiter: int = 2000,
) -> FitResult[P]:
    """Minimise ``objective(theta) -> (mean negative ll, gradient)`` over theta = log(params).

    ``lower`` optionally gives per-parameter lower bounds on the *parameter* (not its
    log); e.g. Gamma-Gamma needs q > 1 for a finite mean spend.
    """
    began = time.perf_counter()
    theta0 = np.log(np.asarray(start, dtype=float))
    lows = [-LOG_BOUND] * len(theta0)
    if lower is not None:
        lows = [max(-LOG_BOUND, float(np.log(lo))) if lo and lo > 0 else -LOG_BOUND
                for lo in lower]
    bounds = [(lo, LOG_BOUND) for lo in lows]
    theta0 = np.clip(theta0, [lo + 1e-6 for lo in lows], LOG_BOUND - 1e-6)
    res = minimize(
        objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
        options={"maxiter": maxiter, "ftol": 1e-13, "gtol": 1e-8, "maxcor": 20},
    )
    theta = np.asarray(res.x, dtype=float)
    mean_nll = float(res.fun)
    at_bound = tuple(
        name for name, t, (lo, hi) in zip(names, theta, bounds, strict=True)
        if t <= lo + 1e-6 or t >= hi - 1e-6
    )
    std_errors = _std_errors(objective, theta, names, n_customers)
    seconds = time.perf_counter() - began
    message = res.message if isinstance(res.message, str) else str(res.message)
    return FitResult(
        params=make_params(np.exp(theta)),
        log_likelihood=-mean_nll * n_customers,
        converged=bool(res.success) and bool(np.isfinite(mean_nll)),
        iterations=int(res.nit),
        evaluations=int(res.nfev),
        message=message,
        n_customers=n_customers,
        n_unique=n_unique,
        fit_seconds=seconds,
        std_errors=std_errors,
        at_bound=at_bound,
    )


def _std_errors(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta: np.ndarray,
    names: Sequence[str],
    n_customers: int,
    h: float = 1e-5,
) -> dict[str, float]:
    k = len(theta)
    hess = np.empty((k, k))
    for i in range(k):
        step = np.zeros(k)
        step[i] = h
        hess[i] = (objective(theta + step)[1] - objective(theta - step)[1]) / (2 * h)
    hess = 0.5 * (hess + hess.T) * n_customers  # total, not mean, negative ll
    try:
        cov = np.linalg.inv(hess)
        var = np.diag(cov)
    except np.linalg.LinAlgError:
        var = np.full(k, np.nan)
    out: dict[str, float] = {}
    for name, t, v in zip(names, theta, var, strict=True):
        out[name] = float(np.exp(t) * np.sqrt(v)) if np.isfinite(v) and v > 0 else float("nan")
    return out


class Grouped(NamedTuple):
    """Distinct rows of some columns, how often each occurs, and where each input row went."""

    columns: tuple[np.ndarray, ...]  # the distinct rows, one array per input column
    counts: np.ndarray  # occurrences of each distinct row (float64, for weighting)
    inverse: np.ndarray  # input row i is distinct row inverse[i]


def group_rows(*columns: np.ndarray) -> Grouped:
    """Collapse identical rows across ``columns`` (equal-length 1-D arrays).

    With whole-number, non-negative, bounded columns (days, counts: the warehouse case)
    the rows are packed into one int64 key and ``np.unique`` sorts integers; otherwise
    it falls back to ``np.unique(axis=0)`` on the stacked floats.
    """
    cols = [np.asarray(c, dtype=np.float64) for c in columns]
    n = len(cols[0]) if cols else 0
    if n == 0:
        return Grouped(tuple(np.empty(0) for _ in cols), np.empty(0), np.empty(0, dtype=np.int64))
    ints = [c.astype(np.int64) for c in cols]
    packable = all(
        bool(np.all(i == c)) and int(i.min()) >= 0 for i, c in zip(ints, cols, strict=True)
    )
    radices = [int(i.max()) + 1 for i in ints] if packable else []
    if packable and float(np.prod([float(r) for r in radices])) < 2.0**62:
        key = np.zeros(n, dtype=np.int64)
        for i, radix in zip(ints, radices, strict=True):
            key = key * radix + i
        uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        decoded: list[np.ndarray] = []
        rest = uniq
        for radix in reversed(radices):
            decoded.append((rest % radix).astype(np.float64))
            rest = rest // radix
        out = tuple(reversed(decoded))
    else:
        stacked = np.column_stack(cols)
        uniq2, inverse, counts = np.unique(
            stacked, axis=0, return_inverse=True, return_counts=True
        )
        out = tuple(np.ascontiguousarray(uniq2[:, j]) for j in range(len(cols)))
    return Grouped(out, counts.astype(np.float64), np.asarray(inverse).reshape(-1))
