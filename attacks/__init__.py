"""Framework-agnostic membership-inference attacks and leakage metrics.

Numpy arrays in, numpy arrays out; this package never imports TensorFlow. Attacks that
need trained models (shadow models) receive a `train_and_score` callable instead.

Example:
    >>> import numpy as np, attacks
    >>> losses = np.r_[np.full(50, 0.1), np.full(50, 1.0)]
    >>> result = attacks.loss_threshold_attack(losses, np.arange(100) < 50)
    >>> result.metrics.auc
    1.0
"""

from attacks.bounds import (EpsilonBound, clopper_pearson_interval,
                            epsilon_from_error_counts, epsilon_lower_bound)
from attacks.gdp import epsilon_to_gdp_mu, gdp_delta, gdp_mu_to_epsilon
from attacks.metrics import (FPR_LEVELS, AttackMetrics, MetricWarning, evaluate,
                             per_class_auc, roc_curve, score_histogram)
from attacks.results import AttackResult

__all__ = [
    "FPR_LEVELS",
    "AttackMetrics",
    "AttackResult",
    "EpsilonBound",
    "MetricWarning",
    "clopper_pearson_interval",
    "epsilon_from_error_counts",
    "epsilon_lower_bound",
    "epsilon_to_gdp_mu",
    "evaluate",
    "gdp_delta",
    "gdp_mu_to_epsilon",
    "per_class_auc",
    "roc_curve",
    "score_histogram",
]
