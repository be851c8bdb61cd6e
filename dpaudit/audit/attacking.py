"""Runs the chosen membership-inference attacks on one model's per-example outputs.

Shared by `train-and-attack` (both arms) and `attack` (a model trained elsewhere).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any

import numpy as np

from dpaudit.audit.summary import summarize_attack
from dpaudit.errors import InputError
from dpaudit.evidence import rule_confidence
from dpaudit.results import AttackSummary
from dpaudit.training.scoring import per_example_loss

__all__ = ["attack_outputs"]

logger = logging.getLogger(__name__)


def attack_outputs(probs_members: np.ndarray, probs_nonmembers: np.ndarray, members: Any,
                   nonmembers: Any, *, names: tuple[str, ...], delta: float, confidence: float,
                   seed: int, shadow: tuple | None, top_k: int = 10,
                   reference: tuple | None = None
                   ) -> tuple[list[AttackSummary], list[tuple[str, int, int, float]]]:
    """Runs the named attacks on one model's outputs.

    Args:
      probs_members, probs_nonmembers: the model's class probabilities.
      members, nonmembers: objects with `.y` (labels) and `.ids` (example ids).
      names: attack names (see dpaudit.config.ATTACK_NAMES).
      delta, confidence, seed: passed to `attacks.evaluate`.
      shadow: (shadow_x, shadow_y, train_and_score, n_shadow, per_class) for the shadow
        attack, or None to skip it.
      top_k: most exposed members listed per attack.
      reference: (ReferenceOutputs, target log-probabilities on the pool (members then
        non-members), target log-probabilities on the population, population labels)
        for lira, lira_offline and rmia (`dpaudit.audit.reference`), or None to skip them.

    Returns:
      The AttackSummary list (a reference attack adds a "<name>_pooled" summary over its
      reference models) and scores.csv rows (attack, example id, is_member, score) of the
      attacks on the target.
    """
    from dpaudit import attacks

    probs = np.concatenate([probs_members, probs_nonmembers])
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        # A training failure, not a bug: say so before the attacks trip over the NaNs.
        raise InputError(f"the model's outputs are NaN or infinite for {int(bad.sum())} of "
                         f"{len(bad)} examples: training diverged (or the weights are NaN); "
                         "lower training.learning_rate (--learning-rate) or check the data "
                         "scaling, then rerun")
    labels = np.concatenate([members.y, nonmembers.y]).astype(np.int64)
    ids = np.concatenate([members.ids, nonmembers.ids]).astype(np.int64)
    is_member = np.r_[np.ones(len(members.y), bool), np.zeros(len(nonmembers.y), bool)]
    kw = {"delta": delta, "confidence": confidence, "seed": seed}
    summaries, rows = [], []
    with warnings.catch_warnings(record=True) as caught:
        # Unresolvable metrics (e.g. TPR at FPR 0.001 with 100 non-members) are expected
        # here and are NaN in the results; log them instead of printing warnings.
        warnings.simplefilter("always", attacks.MetricWarning)
        _run_attacks(names, probs, labels, ids, is_member, kw, shadow, top_k, summaries, rows,
                     reference)
    for w in caught:
        if issubclass(w.category, attacks.MetricWarning):
            logger.info("%s", w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return _with_rule_bounds(summaries, rows, is_member, delta=delta, seed=seed), rows


def _with_rule_bounds(summaries: list[AttackSummary], rows: list, is_member: np.ndarray, *,
                      delta: float, seed: int) -> list[AttackSummary]:
    """Each target attack's bound also at the contradiction rule's stricter confidence
    (Bonferroni over the arm's bounds, `dpaudit.evidence.rule_confidence`), so the rule
    fires on a correct mechanism at most once in 1,000 audits; the 95% figures stay for
    display. Estimates carry none: they never fire the rule."""
    from dpaudit import attacks

    scores: dict[str, list[float]] = {}
    for name, _, _, score in rows:  # the target's attacks, in example order
        scores.setdefault(name, []).append(score)
    bounded = [i for i, s in enumerate(summaries) if not s.is_estimate and s.name in scores]
    strict = rule_confidence(len(bounded))
    out = list(summaries)
    for i in bounded:
        bound = attacks.epsilon_lower_bound(np.asarray(scores[out[i].name]), is_member,
                                            delta=delta, confidence=strict, seed=seed)
        out[i] = dataclasses.replace(out[i], rule_epsilon_lower_bound=float(bound.epsilon),
                                     rule_confidence=strict)
    return out


def _run_attacks(names, probs, labels, ids, is_member, kw, shadow, top_k, summaries, rows,
                 reference):
    from dpaudit import attacks
    from dpaudit.audit.reference import REFERENCE_ATTACKS, reference_attack_results

    for name in names:
        if name in REFERENCE_ATTACKS:
            if reference is None:
                logger.info("%s attack skipped: no reference models", name)
                continue
            refs, target, target_population, population_labels = reference
            result, pooled = reference_attack_results(name, refs, target, target_population,
                                                      labels, population_labels, is_member, kw)
            summaries.append(summarize_attack(result, ids=ids, labels=labels, top_k=top_k))
            rows.extend((result.name, int(i), int(m), float(v))
                        for i, m, v in zip(ids, is_member, np.asarray(result.scores)))
            if pooled is not None:
                k = len(refs.masks)
                # Pairs (model, example): each example appears once per reference model,
                # scored against overlapping references, so the pairs are not independent
                # trials and the pooled epsilon "bound" is an estimate: it never fires the
                # contradiction rule (dpaudit.evidence).
                summaries.append(dataclasses.replace(
                    summarize_attack(pooled, ids=np.tile(ids, k), labels=np.tile(labels, k),
                                     top_k=top_k), is_estimate=True))
            continue
        elif name == "loss_threshold":
            result = attacks.loss_threshold_attack(per_example_loss(probs, labels), is_member,
                                                   **kw)
        elif name == "confidence":
            result = attacks.confidence_attack(probs, labels, is_member, **kw)
        elif name == "modified_entropy":
            result = attacks.modified_entropy_attack(probs, labels, is_member, **kw)
        elif name == "shadow":
            if shadow is None:
                logger.info("shadow attack skipped: no shadow models configured")
                continue
            shadow_x, shadow_y, train_and_score, n_shadow, per_class = shadow
            result = attacks.shadow_attack(probs, labels, is_member, shadow_x=shadow_x,
                                           shadow_y=shadow_y, train_and_score=train_and_score,
                                           n_shadow=n_shadow, per_class=per_class, **kw)
        else:
            raise InputError(f"unknown attack {name!r}")
        summaries.append(summarize_attack(result, ids=ids, labels=labels, top_k=top_k))
        rows.extend((result.name, int(i), int(m), float(s))
                    for i, m, s in zip(ids, is_member, np.asarray(result.scores)))
