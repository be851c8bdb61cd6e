"""Canary observations -> epsilon lower bounds, as the results contract's attack summaries."""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from dpaudit.audit.summary import summarize_attack
from dpaudit.canary.records import METHODS, CanaryObservations
from dpaudit.errors import InputError
from dpaudit.results import AttackSummary
from dpaudit.validation import check_choice

__all__ = ["summarize_canaries"]

logger = logging.getLogger(__name__)


def summarize_canaries(observations: CanaryObservations, *, method: str = "one-run",
                       confidence: float = 0.95, seed: int = 0,
                       guess_counts: Sequence[tuple[int, int]] | None = None
                       ) -> list[AttackSummary]:
    """The canary audit's AttackSummaries (named canary_<mode>_<method>).

    Every bound is computed twice: at `confidence` (the figure shown) and at the
    contradiction rule's stricter confidence (`dpaudit.evidence.rule_confidence`,
    Bonferroni over the audit's bounds), with the design's ceiling at that confidence
    and whether the claimed epsilon is below it (``conclusive``). Bounds that rest on a
    model of the scores are marked ``is_estimate`` and never fire the rule: the
    Gaussian-DP value unless the scores are Gaussian by construction (white-box, q = 1),
    and the multi-run Clopper-Pearson count outside white-box mode (there the canaries
    of one run share a model, so they are not independent trials).

    Args:
      observations: from `whitebox_observations`, `blackbox_observations` or
        `dpaudit.canary.trainer.trainer_observations`.
      method: "one-run" or "multi-run" (module docstring).
      confidence: of the figures shown.
      seed: seeds tie-breaking and the held-out split.
      guess_counts: one-run (k_plus, k_minus) pairs; default
        `attacks.canary_bounds.default_guess_counts`.

    Returns:
      A list of AttackSummary: one for one-run and black-box/trainer multi-run; for
      white-box multi-run, the Clopper-Pearson bound and the Gaussian-DP bound.
    """
    from dpaudit.attacks import canary_bounds
    from dpaudit.canary.design import design_ceiling
    from dpaudit.evidence import rule_confidence

    check_choice("method", method, METHODS)
    obs = observations
    delta = float(obs.privacy.delta if obs.privacy.delta is not None else 1e-5)
    theory = obs.epsilon
    base = {"mode": obs.mode, "method": method, "num_canaries": obs.num_canaries,
            "runs": obs.runs, "observations": int(len(obs.scores)),
            "theoretical_epsilon": theory, **dict(obs.details)}
    prefix = f"canary_{obs.mode}_{method.replace('-', '_')}"
    full_batch = obs.privacy.batch_size >= obs.privacy.dataset_size
    gdp_is_bound = obs.mode == "whitebox" and full_batch
    cp_is_bound = obs.mode == "whitebox"
    try:
        if method == "one-run":
            strict = rule_confidence(1)
            audit, rule = (canary_bounds.one_run_audit(
                obs.scores, obs.is_member, delta=delta, confidence=c,
                guess_counts=guess_counts, seed=seed) for c in (confidence, strict))
            ceiling = design_ceiling(method=method, num_canaries=obs.num_canaries,
                                     runs=obs.runs, delta=delta, confidence=strict,
                                     guess_counts=guess_counts)
            how = (f"one-run audit (Steinke, Nasr, Jagielski, NeurIPS 2023): "
                   f"{audit.num_correct} of {audit.num_guesses} guesses correct (top "
                   f"{audit.k_plus} 'in', bottom {audit.k_minus} 'out') among "
                   f"{audit.num_canaries} canaries with fair inclusion coins; "
                   f"Bonferroni over {audit.num_candidates} guess counts")
            extra = {"k_plus": audit.k_plus, "k_minus": audit.k_minus,
                     "num_guesses": audit.num_guesses, "correct_guesses": audit.num_correct,
                     "guess_counts_tried": audit.num_candidates}
            return [_summary(prefix, obs, audit.epsilon_lower_bound, how, confidence, delta,
                             seed, {**base, **extra},
                             _rule_fields(rule.epsilon_lower_bound, strict, ceiling, theory,
                                          estimate=False))]
        strict = rule_confidence(int(cp_is_bound) + int(gdp_is_bound))
        multi, multi_rule = (canary_bounds.multi_run_audit(
            obs.scores, obs.is_member, delta=delta, confidence=c,
            run_ids=obs.run_ids if obs.runs > 1 else None, seed=seed)
            for c in (confidence, strict))
        ceiling = design_ceiling(method=method, num_canaries=obs.num_canaries, runs=obs.runs,
                                 delta=delta, confidence=strict)
        split = ("held-out runs" if obs.runs > 1
                 else "a held-out random half of the canaries (one run)")
        how = (f"Clopper-Pearson (Jagielski, Ullman, Oprea, NeurIPS 2020): threshold "
               f"chosen on {split}; {multi.false_positives}/{multi.n_negatives} false "
               f"positives and {multi.false_negatives}/{multi.n_positives} false negatives "
               "on the rest, each canary observation counted as an independent trial")
        if not cp_is_bound:
            how += (" -- an ESTIMATE here: canaries of one run share a model, so they are "
                    "not independent trials")
        gdp, gdp_rule = (canary_bounds.gdp_audit(obs.scores, obs.is_member, delta=delta,
                                                 confidence=c) for c in (confidence, strict))
        gdp_details = {"gdp_mu": gdp.mu, "gdp_mu_interval": list(gdp.mu_interval),
                       "gdp_mu_lower": gdp.mu_lower, "epsilon_gdp": gdp.epsilon,
                       "epsilon_gdp_lower": gdp.epsilon_lower_bound,
                       "epsilon_gdp_is_estimate": not gdp_is_bound,
                       "gdp_std_ratio": gdp.std_ratio}
        summaries = [_summary(prefix, obs, multi.epsilon_lower_bound, how, confidence, delta,
                              seed, {**base, "threshold": multi.threshold,
                                     "false_positives": multi.false_positives,
                                     "false_negatives": multi.false_negatives,
                                     "calibration_observations": multi.n_calibration,
                                     **gdp_details},
                              _rule_fields(multi_rule.epsilon_lower_bound, strict, ceiling,
                                           theory, estimate=not cp_is_bound))]
        if obs.mode == "whitebox":
            how = (f"Gaussian-DP lower confidence bound (Nasr et al., USENIX Security 2023): "
                   f"mu >= {gdp.mu_lower:.4g} (estimate {gdp.mu:.4g}, noncentral t) from "
                   f"{gdp.n_members} included and {gdp.n_nonmembers} excluded canary "
                   "scores, converted at delta; assumes Gaussian scores of equal spread "
                   f"(std ratio {gdp.std_ratio:.3g})")
            how += ("; exact here (full batch: the scores are Gaussian by construction)"
                    if gdp_is_bound else "; an ESTIMATE here: with subsampling (q < 1) the "
                    "scores are a Gaussian mixture, so the model does not hold")
            summaries.append(_summary(prefix + "_gdp", obs, gdp.epsilon_lower_bound, how,
                                      confidence, delta, seed, {**base, **gdp_details},
                                      _rule_fields(gdp_rule.epsilon_lower_bound, strict, None,
                                                   theory, estimate=not gdp_is_bound)))
        return summaries
    except ValueError as e:
        raise InputError(f"canary audit ({method}): {e}") from None


def _rule_fields(bound: float, confidence: float, ceiling: float | None, theory: float,
                 *, estimate: bool) -> dict[str, Any]:
    """The AttackSummary fields the contradiction rule and the inconclusive check read."""
    return {"rule_epsilon_lower_bound": float(bound), "rule_confidence": confidence,
            "ceiling": ceiling, "is_estimate": estimate,
            "conclusive": None if ceiling is None or estimate else bool(theory < ceiling)}


def _summary(name: str, obs: CanaryObservations, bound: float, how: str, confidence: float,
             delta: float, seed: int, details: Mapping[str, Any],
             rule: Mapping[str, Any]) -> AttackSummary:
    """An AttackSummary with the canary bound in place of evaluate()'s generic one."""
    from dpaudit import attacks

    with warnings.catch_warnings():
        # TPR at FPR 0.001 needs 10000 excluded canaries; NaN there is expected, not news.
        warnings.simplefilter("ignore", attacks.MetricWarning)
        metrics = attacks.evaluate(obs.scores, obs.is_member, delta=delta,
                                   confidence=confidence, seed=seed)
    result = attacks.AttackResult(name=name, scores=obs.scores, is_member=obs.is_member,
                                  metrics=metrics)
    ids = np.arange(len(obs.scores))
    summary = summarize_attack(result, ids=ids, details={
        **details, "epsilon_lower_bound_split_half": float(metrics.epsilon_lower_bound)})
    logger.info("%s: epsilon >= %.4g (confidence %g) vs accountant %.4g", name, bound,
                confidence, obs.epsilon)
    return dataclasses.replace(summary, epsilon_lower_bound=float(bound),
                               epsilon_lower_bound_method=how, confidence=confidence,
                               delta=delta, **rule)
