"""Gaussian differential privacy (mu-GDP) and its (epsilon, delta) curve.

A mechanism is mu-GDP when telling D from a neighbour D' from its output is at least as
hard as telling N(0, 1) from N(mu, 1) (Dong, Roth, Su, "Gaussian Differential Privacy",
JRSS-B 2022, https://arxiv.org/abs/1905.02383). Corollary 2.13 there gives the whole
(epsilon, delta) curve that mu-GDP implies,

    delta(epsilon) = Phi(-epsilon/mu + mu/2) - exp(epsilon) * Phi(-epsilon/mu - mu/2),

which is also the exact privacy curve of the Gaussian mechanism with sensitivity/sigma =
mu (Balle & Wang, ICML 2018). Nasr et al. ("Tight Auditing of Differentially Private
Machine Learning", USENIX Security 2023, https://arxiv.org/abs/2302.07956) audit DP-SGD by
estimating mu from an attack's error rates and converting it to epsilon with this curve.

Example:
    >>> round(gdp_mu_to_epsilon(1.0, 1e-5), 3)
    4.377
    >>> round(epsilon_to_gdp_mu(4.377178, 1e-5), 6)
    1.0
"""

from __future__ import annotations

import math

from scipy import optimize, special

from ._validation import _real

__all__ = ["gdp_delta", "gdp_mu_to_epsilon", "epsilon_to_gdp_mu"]


def _non_negative(name: str, value: object) -> float:
    value = _real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    return value


def _delta_in_unit(name: str, value: object) -> float:
    value = _real(name, value)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def _delta_of(mu: float, epsilon: float) -> float:
    """delta(epsilon) of mu-GDP for finite mu > 0 and finite epsilon >= 0."""
    first = special.ndtr(-epsilon / mu + mu / 2)
    # exp(epsilon) * Phi(...) in log space: both factors overflow/underflow for large
    # epsilon while their product stays small.
    second = math.exp(epsilon + special.log_ndtr(-epsilon / mu - mu / 2))
    return float(min(1.0, max(0.0, first - second)))


def gdp_delta(mu: float, epsilon: float) -> float:
    """The smallest delta such that a mu-GDP mechanism is (epsilon, delta)-DP.

    Args:
      mu: the GDP parameter, >= 0 (inf allowed: no privacy).
      epsilon: >= 0 (inf allowed).

    Returns:
      delta in [0, 1]: 0 when mu is 0 or epsilon is inf, 1 when mu is inf.
    """
    mu = _non_negative("mu", mu)
    epsilon = _non_negative("epsilon", epsilon)
    if mu == 0 or math.isinf(epsilon):
        return 0.0
    if math.isinf(mu):
        return 1.0
    return _delta_of(mu, epsilon)


def gdp_mu_to_epsilon(mu: float, delta: float) -> float:
    """The smallest epsilon such that a mu-GDP mechanism is (epsilon, delta)-DP.

    Args:
      mu: the GDP parameter, >= 0 (inf allowed).
      delta: in [0, 1].

    Returns:
      epsilon >= 0; 0 when mu-GDP already gives delta at epsilon 0, inf when mu > 0 and
      delta is 0 (a Gaussian mechanism is never pure-DP) or when mu is inf and delta < 1.
    """
    mu = _non_negative("mu", mu)
    delta = _delta_in_unit("delta", delta)
    if mu == 0 or delta == 1:
        return 0.0
    if delta == 0 or math.isinf(mu):
        return math.inf
    if _delta_of(mu, 0.0) <= delta:
        return 0.0
    high = 1.0
    while _delta_of(mu, high) > delta:
        high *= 2.0
    return float(optimize.brentq(lambda e: _delta_of(mu, e) - delta, 0.0, high,
                                 xtol=1e-12, rtol=1e-12))


def epsilon_to_gdp_mu(epsilon: float, delta: float) -> float:
    """The largest mu such that mu-GDP implies (epsilon, delta)-DP.

    This is the inverse of `gdp_mu_to_epsilon` at fixed delta: a claimed (epsilon,
    delta) guarantee allows an attack at most the ROC of N(0, 1) vs N(mu, 1) with this
    mu -- when the mechanism's privacy curve is Gaussian-shaped, as DP-SGD's is nearly.

    Args:
      epsilon: >= 0 (inf allowed).
      delta: in [0, 1].

    Returns:
      mu >= 0; 0 when delta is 0 (no mu > 0 is pure-DP), inf when epsilon is inf or
      delta is 1.
    """
    epsilon = _non_negative("epsilon", epsilon)
    delta = _delta_in_unit("delta", delta)
    if math.isinf(epsilon) or delta == 1:
        return math.inf
    if delta == 0:
        return 0.0
    high = 1.0
    while _delta_of(high, epsilon) < delta:
        high *= 2.0
        if high > 1e6:  # pragma: no cover - delta(epsilon) -> 1 as mu grows
            return math.inf
    return float(optimize.brentq(lambda m: _delta_of(m, epsilon) - delta, 1e-300, high,
                                 xtol=1e-12, rtol=1e-12))

