"""Gaussian-DP lower confidence bound from canary scores (Nasr et al., USENIX Security 2023).

Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight Auditing of
Differentially Private Machine Learning" (https://arxiv.org/abs/2302.07956): model the
scores of included and excluded canaries as two Gaussians with a common variance, so the
mechanism looks mu-GDP with mu = (mean_in - mean_out) / pooled std; an exact noncentral-t
confidence bound on mu is converted to epsilon at delta (`attacks.metrics.gdp_mu_to_epsilon`).
This is a *bound* only where the scores are Gaussian by construction (white-box Dirac
canaries through a full-batch DP step); everywhere else it is an *estimate*.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

from ._validation import as_membership, as_scores, check_probability, check_same_length

__all__ = ["GDPAudit", "gdp_audit"]

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class GDPAudit:
    """Gaussian-DP estimate of the privacy of a mechanism from canary scores (Nasr et al.).

    Attributes:
      mu: point estimate (mean_in - mean_out) / pooled standard deviation.
      mu_interval: two-sided `confidence` interval for mu (noncentral t).
      mu_lower: one-sided lower `confidence` bound on mu (>= 0).
      epsilon: gdp_mu_to_epsilon(mu, delta), the point estimate of epsilon.
      epsilon_lower_bound: gdp_mu_to_epsilon(mu_lower, delta).
      std_ratio: std of included / std of excluded scores; far from 1 means the
        equal-variance Gaussian model does not fit and the estimate is rough.
      n_members, n_nonmembers: observations of included / excluded canaries.
      confidence, delta: as requested.
    """

    mu: float
    mu_interval: tuple[float, float]
    mu_lower: float
    epsilon: float
    epsilon_lower_bound: float
    std_ratio: float
    n_members: int
    n_nonmembers: int
    confidence: float
    delta: float


def gdp_audit(scores: ArrayLike, is_member: ArrayLike, *, delta: float = 1e-5,
              confidence: float = 0.95) -> GDPAudit:
    """Gaussian-DP estimate of epsilon from canary scores (Nasr et al., USENIX Sec. 2023).

    Models the scores as N(mean_out, s^2) for excluded and N(mean_in, s^2) for included
    canaries: the mechanism then looks mu-GDP with mu = (mean_in - mean_out) / s. With
    n1 included and n0 excluded observations, t = mu_hat / sqrt(1/n1 + 1/n0) follows a
    noncentral t distribution (n1 + n0 - 2 degrees of freedom, noncentrality
    mu / sqrt(1/n1 + 1/n0)), which gives exact confidence bounds on mu under the model.
    `epsilon_lower_bound` = gdp_mu_to_epsilon(lower bound on mu, delta).

    Valid only as far as the Gaussian equal-variance model holds; `std_ratio` reports
    how unequal the two spreads are.

    Args:
      scores: (n,) observation scores, higher = more likely included.
      is_member: (n,) whether the canary was included.
      delta, confidence: of the estimate.

    Returns:
      GDPAudit.
    """
    from .metrics import gdp_mu_to_epsilon

    scores = as_scores("scores", scores)
    is_member = as_membership("is_member", is_member)
    check_same_length(scores=scores, is_member=is_member)
    delta = check_probability("delta", delta)
    confidence = check_probability("confidence", confidence, low_open=True,
                                   high_open=True)
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite for the Gaussian-DP estimate")
    inside, outside = scores[is_member], scores[~is_member]
    n1, n0 = len(inside), len(outside)
    if n1 < 2 or n0 < 2:
        raise ValueError("gdp_audit needs at least 2 included and 2 excluded "
                         f"observations, got {n1} included and {n0} excluded")
    df = n1 + n0 - 2
    pooled = math.sqrt((np.sum((inside - inside.mean()) ** 2)
                        + np.sum((outside - outside.mean()) ** 2)) / df)
    if pooled == 0:
        raise ValueError("scores have zero spread within included and excluded "
                         "observations; the Gaussian-DP estimate is undefined")
    mu = float((inside.mean() - outside.mean()) / pooled)
    scale = math.sqrt(1.0 / n1 + 1.0 / n0)
    t_observed = mu / scale
    alpha = 1.0 - confidence
    lower = max(0.0, _noncentrality_bound(t_observed, df, alpha) * scale)
    interval = (_noncentrality_bound(t_observed, df, alpha / 2) * scale,
                _noncentrality_bound(t_observed, df, 1 - alpha / 2) * scale)
    std_out = float(np.std(outside, ddof=1))
    std_ratio = float(np.std(inside, ddof=1) / std_out) if std_out > 0 else math.inf
    return GDPAudit(mu=mu, mu_interval=interval, mu_lower=lower,
                    epsilon=gdp_mu_to_epsilon(max(mu, 0.0), delta),
                    epsilon_lower_bound=gdp_mu_to_epsilon(lower, delta),
                    std_ratio=std_ratio, n_members=n1, n_nonmembers=n0,
                    confidence=confidence, delta=delta)


def _noncentrality_bound(t_observed: float, df: int, tail: float) -> float:
    """The noncentrality nc with P[T >= t_observed | nc] = tail (T ~ noncentral t).

    P[T >= t | nc] increases with nc, so this nc is a lower confidence bound at level
    1 - tail (and an upper bound for tail close to 1).
    """
    def excess(nc: float) -> float:
        return float(stats.nct.sf(t_observed, df, nc)) - tail

    # The root lies within a few standard errors of t_observed; widen until bracketed.
    width = 10.0 * (1.0 + abs(t_observed) / math.sqrt(df))
    low, high = t_observed - width, t_observed + width
    for _ in range(20):
        if excess(low) < 0 < excess(high):
            return float(optimize.brentq(excess, low, high, xtol=1e-10))
        low, high = low - width, high + width
    # Numerically out of reach of scipy's nct: normal approximation of the estimator.
    standard_error = math.sqrt(1.0 + t_observed ** 2 / (2.0 * df))
    return float(t_observed - stats.norm.isf(tail) * standard_error)
