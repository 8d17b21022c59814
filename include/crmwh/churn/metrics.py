"""Ranking metrics for the backtest: ROC AUC (Mann-Whitney, ties counted half) and
top-decile lift."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties: half)."""
    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(score, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def top_decile_lift(y: np.ndarray, score: np.ndarray, share: float = 0.1) -> float:
    """Churn rate among the ``share`` highest scores divided by the overall rate. Ties at the
    cut-off are broken by averaging over them (so a constant score gives lift 1)."""
    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    n = len(y)
    if n == 0 or y.sum() == 0:
        return float("nan")
    k = max(1, int(np.ceil(n * share)))
    cut = np.sort(score)[::-1][k - 1]
    above = score > cut
    at = score == cut
    take_at = k - int(above.sum())
    hits = y[above].sum() + take_at * y[at].mean()
    return float((hits / k) / y.mean())
