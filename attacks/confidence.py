"""Confidence-based membership scores: true-class probability and modified entropy.

Both need only the target model's output probabilities. Song & Mittal, "Systematic
Evaluation of Privacy Risks of Machine Learning Models", USENIX Security 2021
(https://arxiv.org/abs/2003.10595), show that these metric-based attacks match or beat
trained (shadow-model) attacks; modified entropy is their strongest. They set a
threshold per class from shadow models; here one global threshold is swept by
`evaluate`, the same as for the loss-threshold attack.
"""

from __future__ import annotations

from typing import Any

from numpy.typing import ArrayLike

from ._probs import modified_entropy, true_class_probs
from ._validation import as_labels, as_membership, as_probs, check_same_length
from .metrics import evaluate
from .results import AttackResult

__all__ = ["confidence_attack", "modified_entropy_attack"]


def _inputs(probs: ArrayLike, labels: ArrayLike, is_member: ArrayLike):
    probs = as_probs("probs", probs)
    labels = as_labels("labels", labels, probs.shape[1])
    is_member = as_membership("is_member", is_member)
    check_same_length(probs=probs, labels=labels, is_member=is_member)
    return probs, labels, is_member


def confidence_attack(probs: ArrayLike, labels: ArrayLike, is_member: ArrayLike,
                      **evaluate_kwargs: Any) -> AttackResult:
    """Scores each example by the probability the model gives its true class.

    Args:
      probs: (examples, classes) softmax outputs of the target model.
      labels: true classes, integers in [0, classes) or one-hot rows.
      is_member: one flag per example.
      **evaluate_kwargs: delta, confidence, seed, passed to `attacks.evaluate`.

    Returns:
      AttackResult named "confidence", score = probs[i, labels[i]].

    Example:
      >>> confidence_attack([[0.9, 0.1], [0.4, 0.6]], [0, 0], [1, 0]).scores.tolist()
      [0.9, 0.4]
    """
    probs, labels, is_member = _inputs(probs, labels, is_member)
    scores = true_class_probs(probs, labels)
    return AttackResult("confidence", scores, is_member,
                        evaluate(scores, is_member, **evaluate_kwargs))


def modified_entropy_attack(probs: ArrayLike, labels: ArrayLike, is_member: ArrayLike,
                            **evaluate_kwargs: Any) -> AttackResult:
    """Scores each example by its negated modified entropy (Song & Mittal 2021, eq. 4).

    Args:
      probs: (examples, classes) softmax outputs of the target model.
      labels: true classes, integers in [0, classes) or one-hot rows.
      is_member: one flag per example.
      **evaluate_kwargs: delta, confidence, seed, passed to `attacks.evaluate`.

    Returns:
      AttackResult named "modified_entropy", score = -Mentr(probs[i], labels[i]).
    """
    probs, labels, is_member = _inputs(probs, labels, is_member)
    scores = -modified_entropy(probs, labels)
    return AttackResult("modified_entropy", scores, is_member,
                        evaluate(scores, is_member, **evaluate_kwargs))
