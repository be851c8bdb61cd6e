"""What a canary audit can prove, known before training: its ceiling, and settings with power.

A sound lower bound cannot exceed what perfect evidence would prove with the audit's
number of trials (canaries x runs), delta and confidence: that is the design's *ceiling*
(`design_ceiling`). A claimed epsilon at or above it can never be contradicted, whatever
the training does, so such an audit is *inconclusive* and says so (results.json, CLI,
report, gate). With 100 black-box canaries the one-run ceiling is 2.33 at 95%; a trainer
claiming epsilon 13 cannot be caught at those settings by any number of bugs.

The remedy is to audit at settings where the claim is small (Nasr et al., "Tight Auditing
of Differentially Private Machine Learning", USENIX Security 2023; Annamalai and De
Cristofaro, "Nearly Tight Black-Box Auditing of Differentially Private Machine Learning",
NeurIPS 2024): full batch (q = 1) and a few steps, with the noise multiplier calibrated so
the accountant claims `TRAINER_TARGET_EPSILON` (`trainer_noise_multiplier`). A trainer on the
new contract receives those settings (`dpaudit.training.trainers.DPSettings`).
"""

from __future__ import annotations

import logging

from dpaudit.errors import InputError

__all__ = ["TRAINER_STEPS", "TRAINER_TARGET_EPSILON", "TRAINER_RUNS", "design_ceiling",
           "trainer_noise_multiplier"]

logger = logging.getLogger(__name__)

# Trainer-mode defaults: 2 runs x 256 crafted canaries, full batch, 4 steps, the noise
# calibrated to epsilon 1 at the config's delta. The one-run ceiling at the rule's 0.999
# confidence is then about 2.1, so a claim of 1 can be refuted with room to spare; the
# three planted bugs of examples/trainers reach it (benchmarks/planted_bugs.py).
TRAINER_STEPS = 4
TRAINER_TARGET_EPSILON = 1.0
TRAINER_RUNS = 2


def design_ceiling(*, method: str, num_canaries: int, runs: int, delta: float,
                   confidence: float, guess_counts=None) -> float:
    """The largest epsilon the audit's bound can reach at `confidence` (module docstring).

    Args:
      method: "one-run" (Steinke et al.: all runs' canaries pooled, every guess right) or
        "multi-run" (Clopper-Pearson with no error on the expected evaluation half:
        held-out runs, or half the canaries of a single run).
      num_canaries, runs: m per run and the number of runs.
      delta, confidence: of the bound.
      guess_counts: one-run guess counts (default: the library's).

    Returns:
      The ceiling (0 when the design cannot prove anything).
    """
    from dpaudit.attacks import multi_run_ceiling, one_run_ceiling

    if method == "one-run":
        return one_run_ceiling(num_canaries=num_canaries * runs, delta=delta,
                               confidence=confidence, guess_counts=guess_counts)
    if method != "multi-run":
        raise InputError(f"method must be 'one-run' or 'multi-run', got {method!r}")
    if runs > 1:
        # Same split as attacks.multi_run_audit: about half the runs choose the threshold.
        calibration = min(runs - 1, max(1, int(round(0.5 * runs))))
        evaluated = (runs - calibration) * num_canaries
    else:
        evaluated = num_canaries - max(1, int(round(0.5 * num_canaries)))
    half = max(1, evaluated // 2)
    return multi_run_ceiling(n_positives=half, n_negatives=half, delta=delta,
                             confidence=confidence)


def trainer_noise_multiplier(*, delta: float, steps: int = TRAINER_STEPS,
                             target_epsilon: float = TRAINER_TARGET_EPSILON) -> float:
    """The noise multiplier at which `steps` full-batch DP-SGD steps claim `target_epsilon`.

    With q = 1 the accountant's epsilon does not depend on the dataset size.
    """
    from dpaudit.accounting import calibrate_noise

    return float(calibrate_noise(target_epsilon=target_epsilon, dataset_size=2, batch_size=2,
                                 delta=delta, steps=steps, sampling="poisson",
                                 accountant="both"))
