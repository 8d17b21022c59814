"""Gradient-boosted trees for churn risk, calibrated, with per-customer signal pushes.

scikit-learn's ``HistGradientBoostingClassifier`` on the same features as the logistic
(:mod:`crmwh.churn.signals`), with monotone constraints: a warning-signal feature can only
raise the risk, controls are free. The raw log-odds are calibrated by Platt scaling
(a 1-D logistic on them) fitted on out-of-fold predictions, the folds grouping a customer's
snapshots together so no customer is both fitted and calibrated on. A signal's push for a
customer is the change of the calibrated log-odds when the signal's features are set back to
the training median (the typical customer): positive when the signal raises the risk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from crmwh.churn import logistic
from crmwh.churn.reasons import SIGNAL_NAMES

TREE_PARAMS = {"learning_rate": 0.1, "max_iter": 120, "max_leaf_nodes": 15,
               "min_samples_leaf": 40, "l2_regularization": 1.0, "early_stopping": True,
               "validation_fraction": 0.15, "n_iter_no_change": 15}
EPS = 1e-6
# OpenMP threads for fitting and predicting: one. On the shared 2-core machine a thread per
# core made the fit 5x slower in wall time under load (threads waiting on each other), and
# the nightly runs dbt alongside.
THREADS = 1


@dataclass(frozen=True)
class GbmModel:
    names: tuple[str, ...]
    signal_of: dict[str, str | None]
    trees: HistGradientBoostingClassifier
    slope: float  # Platt scaling of the raw log-odds
    intercept: float
    reference: np.ndarray  # training medians: the "typical customer" of the pushes
    fit_seconds: float
    n_rows: int
    positive_rate: float

    def raw(self, x: np.ndarray) -> np.ndarray:
        with threadpool_limits(limits=THREADS, user_api="openmp"):
            p = self.trees.predict_proba(np.asarray(x, dtype=np.float64))[:, 1]
        return logit(np.clip(p, EPS, 1 - EPS))

    def log_odds(self, x: np.ndarray) -> np.ndarray:
        return self.slope * self.raw(x) + self.intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated P(label = 1) per row."""
        return expit(self.log_odds(x))

    def signal_pushes(self, x: np.ndarray) -> np.ndarray:
        """(n x signals) change of the log-odds when the signal's features go back to the
        training median; columns in ``SIGNAL_NAMES`` order. Rows already at the median of a
        signal have no push from it and are not predicted again."""
        x = np.asarray(x, dtype=np.float64)
        now = self.log_odds(x)
        out = np.zeros((len(x), len(SIGNAL_NAMES)))
        for k, signal in enumerate(SIGNAL_NAMES):
            columns = [j for j, n in enumerate(self.names) if self.signal_of[n] == signal]
            if not columns:
                continue
            moved = np.any(x[:, columns] != self.reference[columns], axis=1)
            if not moved.any():
                continue
            typical = x[moved]
            typical[:, columns] = self.reference[columns]
            out[moved, k] = now[moved] - self.log_odds(typical)
        return out

    def params(self) -> dict:
        return {"trees": int(self.trees.n_iter_), "platt_slope": self.slope,
                "platt_intercept": self.intercept,
                "reference": dict(zip(self.names, map(float, self.reference), strict=True)),
                **{f"tree_{k}": v for k, v in TREE_PARAMS.items()}}


def monotone(names: tuple[str, ...], signal_of: dict[str, str | None]) -> list[int]:
    """+1 for warning-signal features (more means more risk), 0 for controls."""
    return [1 if signal_of[n] is not None else 0 for n in names]


def trees(x: np.ndarray, y: np.ndarray, names: tuple[str, ...],
          signal_of: dict[str, str | None], seed: int = 0) -> HistGradientBoostingClassifier:
    model = HistGradientBoostingClassifier(monotonic_cst=monotone(names, signal_of),
                                           random_state=seed, **TREE_PARAMS)
    with threadpool_limits(limits=THREADS, user_api="openmp"):
        return model.fit(x, y)


def fold_of(groups: np.ndarray, folds: int, max_groups: int | None = None) -> np.ndarray:
    """A fold number per row, the same for every row of a group (customer); with
    ``max_groups``, only that many groups (drawn with a fixed seed) get one, the others -1."""
    codes = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)[1]
    rank = np.random.default_rng(0).permutation(codes.max() + 1)[codes]
    fold = rank % folds
    if max_groups is not None:
        fold[rank >= max_groups] = -1
    return fold


def platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the 1-D logistic of ``y`` on ``raw`` log-odds, the slope kept
    >= 0 (calibration never turns a ranking around: at 0 the score is the training rate)."""
    fitted = logistic.fit(raw.reshape(-1, 1), y, ("raw",), l2=1e-6,
                          nonnegative=np.array([True]))
    slope = float(fitted.coef[0] / fitted.scale[0])
    return slope, float(fitted.intercept - slope * fitted.mean[0])


def fit(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], signal_of: dict[str, str | None],
        fold: np.ndarray) -> tuple[GbmModel, np.ndarray]:
    """Fit on all rows, calibrated on out-of-fold predictions over ``fold`` (one fold number
    per row; -1 leaves a row out of the folds). Returns the model and the calibrated
    out-of-fold probabilities (NaN outside the folds)."""
    began = time.perf_counter()
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    raw_oof = np.full(len(y), np.nan)
    for k in np.unique(fold[fold >= 0]):
        test = fold == k
        train = (fold >= 0) & ~test
        part = trees(x[train], y[train], names, signal_of)
        raw_oof[test] = logit(np.clip(part.predict_proba(x[test])[:, 1], EPS, 1 - EPS))
    held = fold >= 0
    slope, intercept = platt(raw_oof[held], y[held])
    model = GbmModel(tuple(names), dict(signal_of), trees(x, y, names, signal_of), slope,
                     intercept, np.median(x, axis=0), 0.0, len(y), float(y.mean()))
    oof = expit(slope * raw_oof + intercept)
    return (GbmModel(**{**model.__dict__, "fit_seconds": time.perf_counter() - began}), oof)
