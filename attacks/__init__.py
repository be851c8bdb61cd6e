"""Framework-agnostic membership-inference attacks and leakage metrics.

Numpy arrays in, numpy arrays out; this package never imports TensorFlow. Attacks that
need trained models (shadow models) receive a `train_and_score` callable instead.

Example:
    >>> import numpy as np
    >>> from dpaudit import attacks
    >>> losses = np.r_[np.full(50, 0.1), np.full(50, 1.0)]
    >>> result = attacks.loss_threshold_attack(losses, np.arange(100) < 50)
    >>> result.metrics.auc
    1.0
"""

from .bounds import (EpsilonBound, clopper_pearson_interval, epsilon_from_error_counts,
                     epsilon_lower_bound)
from .canary_gdp import GDPAudit, gdp_audit
from .canary_multi_run import MultiRunAudit, multi_run_audit, multi_run_ceiling
from .canary_one_run import (OneRunAudit, default_guess_counts, one_run_audit, one_run_ceiling,
                             one_run_epsilon_lower_bound, one_run_p_value)
from .confidence import confidence_attack, modified_entropy_attack
from .gdp import epsilon_to_gdp_mu, gdp_delta, gdp_mu_to_epsilon
from .loss_threshold import loss_threshold_attack
from .metrics import (FPR_LEVELS, AttackMetrics, MetricWarning, evaluate, per_class_auc, roc_curve,
                      score_histogram)
from .results import AttackResult
from .shadow import TrainAndScore, shadow_attack

__all__ = [
    "FPR_LEVELS",
    "AttackMetrics",
    "AttackResult",
    "EpsilonBound",
    "GDPAudit",
    "MetricWarning",
    "MultiRunAudit",
    "OneRunAudit",
    "TrainAndScore",
    "clopper_pearson_interval",
    "confidence_attack",
    "default_guess_counts",
    "epsilon_from_error_counts",
    "epsilon_lower_bound",
    "epsilon_to_gdp_mu",
    "evaluate",
    "gdp_audit",
    "gdp_delta",
    "gdp_mu_to_epsilon",
    "loss_threshold_attack",
    "modified_entropy_attack",
    "multi_run_audit",
    "multi_run_ceiling",
    "one_run_audit",
    "one_run_ceiling",
    "one_run_epsilon_lower_bound",
    "one_run_p_value",
    "per_class_auc",
    "roc_curve",
    "score_histogram",
    "shadow_attack",
]
