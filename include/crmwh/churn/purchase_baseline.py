"""The purchase-model baseline as a churn model: BG/NBD's probability of no purchase in the
purchase horizon (feature ``p_no_purchase``), Platt-scaled to the churn label so it is a
churn probability (``bgnbd_no_purchase``), or that probability itself
(``bgnbd_p_no_purchase``: slope 1, intercept 0). The first competes with the learned models
in :mod:`crmwh.churn.train`; the marts use either where a backtest finds no learned model
that beats every baseline. Its only reason is ``unlikely_to_buy``."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from crmwh.churn import gbm
from crmwh.churn.reasons import SIGNAL_NAMES

FEATURE = "p_no_purchase"
SIGNAL = "unlikely_to_buy"


@dataclass(frozen=True)
class NoPurchaseModel:
    column: int  # index of p_no_purchase in the feature matrix
    slope: float
    intercept: float
    reference: float  # training median of p_no_purchase
    fit_seconds: float
    n_rows: int
    positive_rate: float

    def log_odds(self, x: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(x, dtype=np.float64)[:, self.column], gbm.EPS, 1 - gbm.EPS)
        return self.slope * logit(p) + self.intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        return expit(self.log_odds(x))

    def signal_pushes(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), len(SIGNAL_NAMES)))
        typical = self.slope * logit(np.clip(self.reference, gbm.EPS, 1 - gbm.EPS)) \
            + self.intercept
        out[:, SIGNAL_NAMES.index(SIGNAL)] = self.log_odds(x) - typical
        return out

    def params(self) -> dict:
        return {"platt_slope": self.slope, "platt_intercept": self.intercept,
                "reference_p_no_purchase": self.reference}


def fit(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], calibrate: bool = True
        ) -> NoPurchaseModel:
    """Platt-scaled to the labels ``y``; with ``calibrate`` false, P(no purchase) as is."""
    began = time.perf_counter()
    column = names.index(FEATURE)
    p = np.clip(np.asarray(x, dtype=np.float64)[:, column], gbm.EPS, 1 - gbm.EPS)
    slope, intercept = (gbm.platt(logit(p), np.asarray(y, dtype=np.float64)) if calibrate
                        else (1.0, 0.0))
    return NoPurchaseModel(column, slope, intercept, float(np.median(p)),
                           time.perf_counter() - began, len(y), float(np.mean(y)))
