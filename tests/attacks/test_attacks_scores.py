"""Tests of the score-based attacks: loss threshold, confidence, modified entropy."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

from dpaudit import attacks
from dpaudit.attacks import (AttackResult, confidence_attack, loss_threshold_attack,
                     modified_entropy_attack)


@pytest.fixture(autouse=True)
def _quiet_metric_warnings():
    # Small inputs cannot resolve FPR 0.001; that warning is tested in test_attacks_metrics.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", attacks.MetricWarning)
        yield


def _softmax_outputs(seed: int, n: int = 200, classes: int = 4):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, classes)) * 2
    labels = rng.integers(0, classes, n)
    is_member = rng.random(n) < 0.5
    logits[is_member, labels[is_member]] += 1.5  # members: more confident on the truth
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probs, labels, is_member


# --- loss threshold ---------------------------------------------------------------------

def test_loss_threshold_scores_are_negated_losses_and_metrics_match_evaluate():
    rng = np.random.default_rng(0)
    losses = np.r_[rng.exponential(0.5, 100), rng.exponential(1.0, 100)]
    is_member = np.arange(200) < 100
    result = loss_threshold_attack(losses, is_member, delta=1e-3, confidence=0.9, seed=4)
    assert result.name == "loss_threshold"
    np.testing.assert_array_equal(result.scores, -losses)
    expected = attacks.evaluate(-losses, is_member, delta=1e-3, confidence=0.9, seed=4)
    assert result.metrics.auc == expected.auc
    assert result.metrics.epsilon_lower_bound == expected.epsilon_lower_bound
    assert (result.metrics.delta, result.metrics.confidence) == (1e-3, 0.9)


def test_loss_threshold_accepts_infinite_loss():
    result = loss_threshold_attack([0.0, 0.1, np.inf, 2.0], [1, 1, 0, 0])
    assert result.metrics.auc == 1.0


@pytest.mark.parametrize("losses, is_member, message", [
    ([0.1, float("nan")], [1, 0], r"losses contains 1 NaN values \(first at index 1\)"),
    ([0.1, 0.2, 0.3], [1, 0], r"losses and is_member must have the same length"),
])
def test_loss_threshold_bad_input(losses, is_member, message):
    with pytest.raises(ValueError, match=message):
        loss_threshold_attack(losses, is_member)


# --- confidence and modified entropy ------------------------------------------------------

def test_confidence_scores_match_a_naive_loop():
    probs, labels, is_member = _softmax_outputs(1)
    result = confidence_attack(probs, labels, is_member)
    expected = [probs[i][labels[i]] for i in range(len(labels))]
    np.testing.assert_array_equal(result.scores, expected)
    assert result.name == "confidence"
    assert result.metrics.auc > 0.6


def _mentr_naive(p, y):
    """Song & Mittal (2021) eq. 4, written out term by term."""
    total = -(1 - p[y]) * math.log(p[y])
    for i, p_i in enumerate(p):
        if i != y:
            total -= p_i * math.log(1 - p_i)
    return total


def test_modified_entropy_matches_the_papers_formula():
    probs, labels, is_member = _softmax_outputs(2)
    result = modified_entropy_attack(probs, labels, is_member)
    expected = [-_mentr_naive(probs[i], labels[i]) for i in range(len(labels))]
    np.testing.assert_allclose(result.scores, expected, rtol=1e-10)
    assert result.name == "modified_entropy"
    assert result.metrics.auc > 0.6


def test_modified_entropy_orders_right_uncertain_wrong_and_stays_finite():
    probs = np.array([[1.0, 0.0, 0.0],      # confidently right
                      [0.4, 0.3, 0.3],      # uncertain
                      [0.0, 1.0, 0.0]])     # confidently wrong
    scores = modified_entropy_attack(probs, [0, 0, 0], [1, 0, 0]).scores
    assert np.all(np.isfinite(scores))
    assert scores[0] > scores[1] > scores[2]
    # Plain entropy cannot tell right from wrong: rows 0 and 2 tie there, not here.


def test_one_hot_labels_equal_integer_labels():
    probs, labels, is_member = _softmax_outputs(3)
    one_hot = np.eye(4)[labels]
    a = modified_entropy_attack(probs, one_hot, is_member)
    b = modified_entropy_attack(probs, labels, is_member)
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("probs, labels, message", [
    ([[2.0, -1.0], [0.5, 0.5]], [0, 1], "probs must be non-negative.*not logits"),
    ([[2.0, 1.0], [0.5, 0.5]], [0, 1], r"probs rows must sum to 1, row 0 sums to 3"),
    ([[0.5, 0.5], [float("nan"), 0.5]], [0, 1], "probs must be finite.*row 1"),
    ([0.5, 0.5], [0, 1], r"probs must have shape \(examples, classes\)"),
    ([[0.5, 0.5], [0.5, 0.5]], [0, 2], r"labels must be integers in \[0, 2\), got 2 at "
                                       r"index 1"),
    ([[0.5, 0.5], [0.5, 0.5]], [0, 0.5], r"labels must be integers in \[0, 2\)"),
    ([[0.5, 0.5], [0.5, 0.5]], [0], "probs, labels and is_member must have the same"),
])
@pytest.mark.parametrize("attack", [confidence_attack, modified_entropy_attack])
def test_probability_attacks_bad_input(attack, probs, labels, message):
    with pytest.raises(ValueError, match=message):
        attack(probs, labels, [1, 0])


# --- the result type ---------------------------------------------------------------------

def test_attack_result_is_frozen_and_owns_read_only_copies():
    scores = np.array([0.3, 0.2, 0.1])
    flags = np.array([1, 0, 1])
    result = loss_threshold_attack(scores, flags)
    scores[0] = 99.0  # the caller's array changing later does not reach the result
    assert result.scores[0] == -0.3
    assert result.is_member.dtype == bool
    with pytest.raises(ValueError):
        result.scores[0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.name = "other"
    with pytest.raises(ValueError, match="same length"):
        AttackResult("x", np.zeros(3), np.zeros(2, bool), result.metrics)
