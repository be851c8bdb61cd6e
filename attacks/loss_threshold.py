"""Loss-threshold membership inference (Yeom et al. 2018).

Yeom, Giacomelli, Fredrikson, Jha, "Privacy Risk in Machine Learning: Analyzing the
Connection to Overfitting", IEEE CSF 2018 (https://arxiv.org/abs/1709.01604): a model
fits its training examples better than unseen ones, so a low loss suggests "member".
The score is -loss; `evaluate` then sweeps every threshold, which is the attack with
the best threshold in hindsight (the epsilon bound itself uses a held-out threshold).
"""

from __future__ import annotations

from typing import Any

from numpy.typing import ArrayLike

from ._validation import as_membership, as_scores, check_same_length
from .metrics import evaluate
from .results import AttackResult

__all__ = ["loss_threshold_attack"]


def loss_threshold_attack(losses: ArrayLike, is_member: ArrayLike,
                          **evaluate_kwargs: Any) -> AttackResult:
    """Scores each example by its negated loss.

    Args:
      losses: per-example loss of the target model (e.g. cross-entropy), one per
        example; +inf allowed (a probability of 0 on the true class), NaN is not.
      is_member: one flag per example: was it in the training set?
      **evaluate_kwargs: delta, confidence, seed, passed to `attacks.evaluate`.

    Returns:
      AttackResult named "loss_threshold" with scores = -losses.

    Example:
      >>> import numpy as np
      >>> result = loss_threshold_attack([0.1, 0.2, 0.9, 1.5], [1, 1, 0, 0])
      >>> result.scores.tolist(), result.metrics.auc
      ([-0.1, -0.2, -0.9, -1.5], 1.0)
    """
    losses = as_scores("losses", losses)
    is_member = as_membership("is_member", is_member)
    check_same_length(losses=losses, is_member=is_member)
    scores = -losses
    return AttackResult("loss_threshold", scores, is_member,
                        evaluate(scores, is_member, **evaluate_kwargs))
