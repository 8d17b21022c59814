"""The sBG renewal model: its likelihood against an integral over theta, parameter recovery
from simulated contract chains, and the lapse chance falling with renewals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import beta as beta_dist

from crmwh.churn import renewals
from crmwh.churn.renewals import SbgParams

TRUE = SbgParams(0.7, 2.5)


@pytest.mark.parametrize("k, lapsed", [(0, True), (0, False), (3, True), (5, False)])
def test_likelihood_is_the_integral_over_the_lapse_probability(k, lapsed):
    # lapsed after k renewals: (1 - theta)^k theta; still in force: (1 - theta)^k
    def integrand(theta: float) -> float:
        return (1 - theta) ** k * (theta if lapsed else 1.0) * beta_dist.pdf(theta, *TRUE)

    want = quad(integrand, 0, 1)[0]
    got = np.exp(renewals.log_likelihood(TRUE, np.array([k]), np.array([lapsed]))[0])
    assert got == pytest.approx(want, rel=1e-6)


def test_fit_recovers_the_parameters_of_simulated_chains():
    rng = np.random.default_rng(4)
    n = 20_000
    theta = rng.beta(*TRUE, n)
    lapse_at = rng.geometric(theta)  # the term whose end is not renewed (1 = the first)
    observed = rng.integers(1, 8, n)  # terms ended by the as-of date
    lapsed = lapse_at <= observed
    k = np.where(lapsed, lapse_at - 1, observed)
    fitted = renewals.fit(k, lapsed)
    assert fitted.alpha == pytest.approx(TRUE.alpha, rel=0.1)
    assert fitted.beta == pytest.approx(TRUE.beta, rel=0.1)
    # the next term's lapse chance among those in force after k renewals, against the sample
    for renewed in (0, 2, 4):
        survivors = lapse_at > renewed
        share = (lapse_at[survivors] == renewed + 1).mean()
        assert renewals.p_lapse(fitted, renewed) == pytest.approx(share, abs=0.02)
    assert np.all(np.diff(renewals.p_lapse(fitted, np.arange(6))) < 0)
