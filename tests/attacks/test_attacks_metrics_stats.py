"""Statistical tests of evaluate(): AUC and its confidence interval on Gaussian scores.

Members score N(mu, 1) and non-members N(0, 1), so the true AUC is Phi(mu / sqrt 2).
Every test uses fixed seeds (deterministic); the false-failure rate written next to each
tolerance is the chance that a correct implementation fails it under a fresh seed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import special, stats

from dpaudit.attacks.metrics import MetricWarning, evaluate


def _gaussian_scores(rng, mu, n):
    return np.r_[rng.normal(mu, 1, n), rng.normal(0, 1, n)], np.arange(2 * n) < n


@pytest.mark.parametrize("mu", [0.0, 0.5, 1.0, 2.0])
def test_auc_within_its_interval_of_phi_mu_over_root2(mu):
    scores, is_member = _gaussian_scores(np.random.default_rng(11), mu, 2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        result = evaluate(scores, is_member, confidence=0.999)
    # False-failure rate 0.1% per mu (a 99.9% interval misses the truth 1 time in 1000).
    low, high = result.auc_ci
    assert low <= special.ndtr(mu / math.sqrt(2)) <= high
    assert high - low < 0.07  # and the interval is informative: 2000 + 2000 scores


@pytest.mark.parametrize("mu", [0.5, 2.0])
def test_auc_interval_coverage_is_nominal(mu):
    """The 95% DeLong interval covers Phi(mu/sqrt 2) in about 95% of 400 trials."""
    trials, truth = 400, special.ndtr(mu / math.sqrt(2))
    covered = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        for seed in range(trials):
            scores, is_member = _gaussian_scores(np.random.default_rng(seed), mu, 200)
            low, high = evaluate(scores, is_member, seed=seed).auc_ci
            covered += low <= truth <= high
    # Accept [365, 392] of 400: under exact 95% coverage, Binomial(400, 0.95) falls
    # below with probability 0.00057 and above with 0.00062: false-failure rate 0.12%.
    # Measured offline with 200 per class over 2000 other seeds: 95.2% (mu = 0.5) and
    # 95.5% (mu = 2). Near AUC 1 the interval covers less (93.7% at AUC 0.983 with 100
    # per class), which is why that regime is not in this test.
    assert stats.binom.cdf(364, trials, 0.95) < 1e-3
    assert stats.binom.sf(392, trials, 0.95) < 1e-3
    assert 365 <= covered <= 392, f"coverage {covered}/{trials}"


def test_auc_is_half_for_independent_scores():
    scores, is_member = _gaussian_scores(np.random.default_rng(4), 0.0, 5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        result = evaluate(scores, is_member)
    # Null SE of the AUC: sqrt((n1 + n0 + 1) / (12 n1 n0)) = 0.0058; 4 SE -> false-failure
    # rate 6e-5.
    assert abs(result.auc - 0.5) < 4 * math.sqrt(10001 / (12 * 5000 * 5000))
    assert result.epsilon_lower_bound == 0.0
