"""The "true" CLV parameters of the model tests: Fader, Hardie & Lee (2005) CDNOW estimates."""

from __future__ import annotations

from crmwh.clv.bgnbd import BgNbdParams
from crmwh.clv.gamma_gamma import GammaGammaParams

# weekly, as published
BG = BgNbdParams(r=0.24, alpha=4.41, a=0.79, b=2.43)
GG = GammaGammaParams(p=6.25, q=3.74, v=15.44)
# the same per day, for order-level simulations
BG_DAY = BgNbdParams(r=0.24, alpha=4.41 * 7, a=0.79, b=2.43)
