"""Top reasons per customer: the DOMAIN §4 warning signals pushing the score up the most.

A signal's push is the sum of its features' contributions (coef x standardised value,
:meth:`LogisticModel.contributions`); controls are never reasons. Only signals with a
positive push count, so a customer has fewer than three reasons when fewer signals raise the
risk above the average customer's.
"""

from __future__ import annotations

import numpy as np

from crmwh.churn.signals import SIGNAL_OF, SIGNALS

SIGNAL_NAMES: tuple[str, ...] = tuple(SIGNALS)


def signal_pushes(contributions: np.ndarray, feature_names: tuple[str, ...]) -> np.ndarray:
    """(n x number of signals) summed contributions, columns in ``SIGNAL_NAMES`` order."""
    out = np.zeros((contributions.shape[0], len(SIGNAL_NAMES)))
    for j, name in enumerate(feature_names):
        signal = SIGNAL_OF[name]
        if signal is not None:
            out[:, SIGNAL_NAMES.index(signal)] += contributions[:, j]
    return out


def top_reasons(pushes: np.ndarray, k: int = 3, min_push: float = 1e-9
                ) -> tuple[list[list[str | None]], np.ndarray]:
    """Per row the names of up to ``k`` signals with the largest positive push (None when
    fewer), and their pushes (NaN when none). Ties go to the earlier signal in SIGNALS."""
    order = np.argsort(-pushes, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(pushes, order, axis=1)
    values = np.where(top > min_push, top, np.nan)
    labels = np.asarray(SIGNAL_NAMES, dtype=object)[order]
    labels[~(top > min_push)] = None
    return labels.tolist(), values
