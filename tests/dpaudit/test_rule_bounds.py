"""Every target attack carries its bound at the contradiction rule's confidence, so the rule
fires on correct code at most once in 1,000 audits (Bonferroni over the arm's bounds)."""

from __future__ import annotations

import numpy as np

from dpaudit.audit.attacking import attack_outputs
from dpaudit.data import Part
from dpaudit.evidence import RULE_CONFIDENCE


def test_target_attacks_carry_a_stricter_bound_for_the_rule():
    rng = np.random.default_rng(0)
    n, classes = 400, 3
    y = rng.integers(0, classes, 2 * n)
    logits = rng.normal(size=(2 * n, classes))
    logits[np.arange(n), y[:n]] += 3.0  # members are fitted: a leaky model
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    members = Part(x=np.zeros((n, 1)), y=y[:n], ids=np.arange(n))
    nonmembers = Part(x=np.zeros((n, 1)), y=y[n:], ids=np.arange(n, 2 * n))
    names = ("loss_threshold", "confidence")
    summaries, _ = attack_outputs(probs[:n], probs[n:], members, nonmembers, names=names,
                                  delta=1e-5, confidence=0.95, seed=0, shadow=None)
    assert [s.name for s in summaries] == list(names)
    for s in summaries:
        assert s.rule_confidence == 1 - (1 - RULE_CONFIDENCE) / len(names)
        # The same split and threshold rule at a higher confidence: never larger.
        assert 0 < s.rule_epsilon_lower_bound <= s.epsilon_lower_bound
