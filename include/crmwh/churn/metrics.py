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


def pr_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision: the mean, over the
    positives, of the precision among the rows scoring at least as high (ties: all of them)."""
    y = np.asarray(y, dtype=bool)
    if y.sum() == 0:
        return float("nan")
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(-score, kind="stable")
    s, hits = score[order], y[order].astype(np.float64)
    # the last row of each block of tied scores
    last = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(hits)[last]
    seen = np.flatnonzero(last) + 1.0
    new_tp = np.diff(np.r_[0.0, tp])
    return float((new_tp * tp / seen).sum() / y.sum())


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of probabilities ``p`` against the 0/1 outcome."""
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean((np.asarray(p, dtype=np.float64) - y) ** 2)) if len(y) else float("nan")


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Equal-count bins of ``p`` (ascending): rows, mean predicted, observed rate."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    out = []
    for part in np.array_split(order, min(bins, len(p))):
        if len(part):
            out.append({"rows": int(len(part)), "predicted": float(p[part].mean()),
                        "observed": float(y[part].mean())})
    return out


def summary(y: np.ndarray, score: np.ndarray, probability: bool = True) -> dict:
    """ROC AUC, PR AUC and top-decile lift of a ranking; Brier score and calibration table
    when ``score`` is a probability."""
    out = {"auc": auc(y, score), "pr_auc": pr_auc(y, score), "lift10": top_decile_lift(y, score)}
    if probability:
        out["brier"] = brier(y, score)
        out["calibration"] = calibration(y, score)
    return out
