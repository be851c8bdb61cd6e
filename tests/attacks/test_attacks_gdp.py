"""Tests of attacks.gdp against independent computations of the Gaussian privacy curve."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from dpaudit.attacks.gdp import epsilon_to_gdp_mu, gdp_delta, gdp_mu_to_epsilon


def _delta_by_integration(mu: float, epsilon: float) -> float:
    """delta(eps) = integral of max(0, p1 - e^eps p0) for p1 = N(mu,1), p0 = N(0,1)."""
    def integrand(x):
        return max(0.0, stats.norm.pdf(x, mu, 1) - math.exp(epsilon) * stats.norm.pdf(x))
    crossing = epsilon / mu + mu / 2  # where the two densities' ratio equals e^eps
    value, _ = integrate.quad(integrand, crossing, crossing + 40, epsabs=1e-14,
                              epsrel=1e-10, limit=200)
    return value


@pytest.mark.parametrize("mu, epsilon", [(0.5, 0.0), (0.5, 1.0), (1.0, 0.5), (1.0, 3.0),
                                         (2.0, 2.0), (3.0, 8.0)])
def test_gdp_delta_matches_numerical_integration(mu, epsilon):
    expected = _delta_by_integration(mu, epsilon)
    assert gdp_delta(mu, epsilon) == pytest.approx(expected, rel=1e-7, abs=1e-14)


@pytest.mark.parametrize("mu", [0.3, 2.0])
@pytest.mark.parametrize("delta", [1e-6, 1e-2])
def test_gdp_epsilon_matches_dp_accounting_pld(mu, delta):
    """A second accountant: one Gaussian mechanism (sensitivity 1, sigma 1/mu) in PLD."""
    dp_accounting = pytest.importorskip("dp_accounting")
    from dp_accounting.pld import pld_privacy_accountant

    accountant = pld_privacy_accountant.PLDAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(noise_multiplier=1 / mu))
    # PLD discretisation is pessimistic by design and accurate to about 1e-4 here.
    assert gdp_mu_to_epsilon(mu, delta) == pytest.approx(accountant.get_epsilon(delta),
                                                         rel=1e-3)


@pytest.mark.parametrize("mu", [0.1, 0.8, 1.0, 2.5, 6.0])
@pytest.mark.parametrize("delta", [1e-8, 1e-5, 0.1])
def test_round_trip_and_definition(mu, delta):
    epsilon = gdp_mu_to_epsilon(mu, delta)
    if epsilon > 0:
        assert gdp_delta(mu, epsilon) == pytest.approx(delta, rel=1e-6)
        assert epsilon_to_gdp_mu(epsilon, delta) == pytest.approx(mu, rel=1e-6)
    else:
        assert gdp_delta(mu, 0.0) <= delta


def test_monotone_in_mu_and_delta():
    epsilons = [gdp_mu_to_epsilon(mu, 1e-5) for mu in np.linspace(0.1, 4, 20)]
    assert np.all(np.diff(epsilons) > 0)
    epsilons = [gdp_mu_to_epsilon(1.0, d) for d in (1e-9, 1e-6, 1e-3, 1e-1)]
    assert np.all(np.diff(epsilons) < 0)


def test_edge_cases_return_values():
    assert gdp_mu_to_epsilon(0.0, 1e-5) == 0.0
    assert gdp_mu_to_epsilon(1.0, 0.0) == math.inf  # Gaussian is never pure DP
    assert gdp_mu_to_epsilon(1.0, 1.0) == 0.0
    assert gdp_mu_to_epsilon(math.inf, 0.5) == math.inf
    assert gdp_mu_to_epsilon(0.01, 0.5) == 0.0  # delta(0) = 0.004 < 0.5 already
    assert epsilon_to_gdp_mu(math.inf, 1e-5) == math.inf
    assert epsilon_to_gdp_mu(1.0, 0.0) == 0.0
    assert epsilon_to_gdp_mu(1.0, 1.0) == math.inf
    assert gdp_delta(0.0, 1.0) == 0.0 and gdp_delta(math.inf, 1.0) == 1.0
    assert gdp_delta(1.0, math.inf) == 0.0
    assert gdp_delta(1.0, 0.0) == pytest.approx(2 * stats.norm.cdf(0.5) - 1)


@pytest.mark.parametrize("call, message", [
    (lambda: gdp_mu_to_epsilon(-1.0, 1e-5), "mu must be non-negative, got -1.0"),
    (lambda: gdp_mu_to_epsilon(1.0, 1.5), r"delta must be in \[0, 1\], got 1.5"),
    (lambda: gdp_mu_to_epsilon(float("nan"), 1e-5), "mu must be a number, got nan"),
    (lambda: epsilon_to_gdp_mu(-0.5, 1e-5), "epsilon must be non-negative"),
    (lambda: gdp_delta(1.0, -1.0), "epsilon must be non-negative"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
