"""Framework-agnostic membership-inference attacks and leakage metrics.

Numpy arrays in, numpy arrays out; this package never imports TensorFlow. Attacks that
need trained models (shadow models) receive a `train_and_score` callable instead; the
reference-model attacks (`lira_attack`, `rmia_attack`, `pooled_attack`) receive the
reference models' scores and which examples each trained on. `dp_roc_ceiling` is the
highest ROC an (epsilon, delta) guarantee allows, to draw under an attack's curve.

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
from .canary_bounds import (GDPAudit, MultiRunAudit, OneRunAudit, default_guess_counts,
                            gdp_audit, multi_run_audit, multi_run_ceiling, one_run_audit,
                            one_run_ceiling, one_run_epsilon_lower_bound, one_run_p_value)
from .confidence import confidence_attack, modified_entropy_attack
from .gdp import epsilon_to_gdp_mu, gdp_delta, gdp_mu_to_epsilon
from .lira import lira_attack, lira_scores, logit_scaled_confidence
from .loss_threshold import loss_threshold_attack
from .metrics import (FPR_LEVELS, AttackMetrics, MetricWarning, evaluate, per_class_auc, roc_curve,
                      score_histogram)
from .pooled import pooled_attack
from .results import AttackResult
from .rmia import rmia_attack, rmia_scores
from .shadow import TrainAndScore, shadow_attack
from .theory import (CeilingCheck, default_fpr_grid, dp_roc_ceiling, dp_tpr_ceiling,
                     roc_point_exceeds_ceiling)

__all__ = [
    "FPR_LEVELS",
    "AttackMetrics",
    "AttackResult",
    "CeilingCheck",
    "EpsilonBound",
    "GDPAudit",
    "MetricWarning",
    "MultiRunAudit",
    "OneRunAudit",
    "TrainAndScore",
    "clopper_pearson_interval",
    "confidence_attack",
    "default_fpr_grid",
    "default_guess_counts",
    "dp_roc_ceiling",
    "dp_tpr_ceiling",
    "epsilon_from_error_counts",
    "epsilon_lower_bound",
    "epsilon_to_gdp_mu",
    "evaluate",
    "gdp_audit",
    "gdp_delta",
    "gdp_mu_to_epsilon",
    "lira_attack",
    "lira_scores",
    "logit_scaled_confidence",
    "loss_threshold_attack",
    "modified_entropy_attack",
    "multi_run_audit",
    "multi_run_ceiling",
    "one_run_audit",
    "one_run_ceiling",
    "one_run_epsilon_lower_bound",
    "one_run_p_value",
    "per_class_auc",
    "pooled_attack",
    "rmia_attack",
    "rmia_scores",
    "roc_curve",
    "roc_point_exceeds_ceiling",
    "score_histogram",
    "shadow_attack",
]
