"""Per-example quantities derived from class probabilities, shared by the attacks."""

from __future__ import annotations

import numpy as np

__all__ = ["true_class_probs", "cross_entropy", "modified_entropy", "TINY"]

# Floor for probabilities inside logarithms: float64 softmax outputs can be exactly 0
# or 1, and log(0) would turn a confident model's score into -inf for every example.
TINY = 1e-30


def true_class_probs(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """probs[i, labels[i]] for every row i."""
    return probs[np.arange(len(labels)), labels]


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """-log p_y, the per-example loss of a softmax classifier."""
    return -np.log(np.maximum(true_class_probs(probs, labels), TINY))


def modified_entropy(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mentr(p, y) = -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i).

    Song & Mittal, "Systematic Evaluation of Privacy Risks of Machine Learning Models",
    USENIX Security 2021 (https://arxiv.org/abs/2003.10595), eq. (4). Low for examples the
    model is confidently right about (typically members), high when it is confidently
    wrong -- unlike plain entropy, which cannot tell the two apart.
    """
    # Floors on p and on 1 - p as in the authors' code: 1 - 1e-30 rounds to 1 in float64,
    # so clipping p itself would not keep log(1 - p) finite.
    rows = np.arange(len(labels))
    log_p = np.log(np.maximum(probs, TINY))
    log_not_p = np.log(np.maximum(1 - probs, TINY))
    others = -probs * log_not_p
    others[rows, labels] = 0.0
    p_true = probs[rows, labels]
    return -(1 - p_true) * log_p[rows, labels] + others.sum(axis=1)
