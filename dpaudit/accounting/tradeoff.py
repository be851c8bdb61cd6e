"""The accountant's whole (epsilon, delta) curve, and epsilon at a few training checkpoints.

A DP guarantee is not one (epsilon, delta) pair but a curve: the mechanism is
(epsilon(delta), delta)-DP for every delta. Each pair bounds every membership test,
TPR <= e^eps * FPR + delta (Kairouz, Oh & Viswanath, "The composition theorem for
differential privacy", ICML 2015, https://arxiv.org/abs/1311.0776), so the lower envelope
over the curve is the highest ROC any attack can reach; the report draws it under the
measured ROC curves. The curve is the tighter of the RDP and PLD accountants at each
delta (both are valid upper bounds, so their minimum is one too), computed from one
composition per accountant.

Example:
    >>> curve = epsilon_delta_curve(dataset_size=100, batch_size=25, noise_multiplier=2.0,
    ...                             steps=160)  # doctest: +SKIP
    >>> len(curve["delta"]) == len(curve["epsilon"])  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np

from dp_accounting import rdp

from dpaudit.accounting._pld import gaussian_composition_epsilon, poisson_gaussian_pld
from dpaudit.accounting.pricing import Accountant, Sampling, compute_epsilon, make_plan

__all__ = ["DELTA_GRID", "epsilon_delta_curve", "epsilon_at_checkpoints", "headline_series"]

logger = logging.getLogger(__name__)

# From 1e-10 (far below any useful delta) to 0.5: the pairs with large delta bound the
# ROC at high FPR, those with small delta at low FPR, where audits matter most.
DELTA_GRID: tuple[float, ...] = tuple(float(d) for d in np.logspace(-10, math.log10(0.5), 61))


def epsilon_delta_curve(*, dataset_size: int, batch_size: int, noise_multiplier: float,
                        steps: int, sampling: Sampling = "poisson",
                        num_microbatches: int | None = None,
                        deltas: Sequence[float] = DELTA_GRID) -> dict[str, list[float]]:
    """Epsilon at each delta of `deltas` for a DP-SGD run of `steps` steps.

    Args:
      dataset_size, batch_size, noise_multiplier, steps, sampling, num_microbatches: as
        for `dpaudit.accounting.compute_epsilon`.
      deltas: the grid, each in (0, 1).

    Returns:
      {"delta": [...], "epsilon": [...], "accountant": [...]} with, per delta, the smaller
      of the RDP and PLD epsilons and which accountant gave it (0 = RDP, 1 = PLD, so the
      mapping stays numeric like the rest of the results contract).
    """
    deltas = [float(d) for d in deltas]
    plan = make_plan(dataset_size=dataset_size, batch_size=batch_size, delta=min(deltas),
                     steps=steps, sampling=sampling, noise_multiplier=noise_multiplier,
                     num_microbatches=num_microbatches)
    poisson = plan.sampling == "poisson"
    count = plan.steps if poisson else plan.compositions
    if count == 0 or noise_multiplier <= 0:
        value = 0.0 if count == 0 else math.inf
        return {"delta": deltas, "epsilon": [value] * len(deltas),
                "accountant": [0.0] * len(deltas)}
    rdp_accountant = rdp.RdpAccountant(neighboring_relation=plan.neighboring_relation())
    rdp_accountant.compose(plan.dp_event())
    sigma = plan.effective_noise_multiplier
    # Poisson: one PLD (cost-bounded; None when over budget: RDP alone), priced at every
    # delta. Shuffle: the exact analytic Gaussian, as `compute_epsilon` prices it.
    pld = (poisson_gaussian_pld(sigma=sigma, sampling_rate=plan.sampling_rate,
                                steps=count)[0] if poisson else None)
    epsilons, which = [], []
    for delta in deltas:
        rdp_eps = float(rdp_accountant.get_epsilon(delta))
        if poisson:
            pld_eps = math.inf if pld is None else float(pld.get_epsilon_for_delta(delta))
        else:
            pld_eps = gaussian_composition_epsilon(sigma=sigma, compositions=count, delta=delta)
        epsilons.append(max(0.0, min(rdp_eps, pld_eps)))
        which.append(1.0 if pld_eps < rdp_eps else 0.0)
    return {"delta": deltas, "epsilon": epsilons, "accountant": which}


def epsilon_at_checkpoints(*, steps_per_epoch: Sequence[int], accountant: Accountant,
                           final_epsilon: float, dataset_size: int, batch_size: int,
                           noise_multiplier: float, delta: float,
                           sampling: Sampling = "poisson",
                           num_microbatches: int | None = None,
                           epochs: Sequence[int] = ()) -> list[float]:
    """Epsilon after each epoch from ONE accountant, NaN for epochs not priced.

    PLD takes about a second per evaluation, so only `epochs` (1-based, e.g. those of
    `dpaudit.audit.checkpoints.checkpoint_epochs`) and the last epoch are priced; the last
    is `final_epsilon`, the headline's own number, so the chart that
    shows this series ends exactly where the headline does.

    Args:
      steps_per_epoch: cumulative steps after each epoch (the history's "steps").
      accountant: "rdp" or "pld": the one that gave the headline epsilon.
      final_epsilon: the headline epsilon (this accountant at the last epoch).
      dataset_size, batch_size, noise_multiplier, delta, sampling, num_microbatches: as
        for `compute_epsilon`.
      epochs: which epochs to price besides the last.
    """
    steps = [int(s) for s in steps_per_epoch]
    out = [math.nan] * len(steps)
    if not steps:
        return out
    for epoch in sorted({*(int(e) for e in epochs if 1 <= e <= len(steps)), len(steps)}):
        i = epoch - 1
        if i == len(steps) - 1:
            out[i] = float(final_epsilon)
        else:
            out[i] = compute_epsilon(dataset_size=dataset_size, batch_size=batch_size,
                                     noise_multiplier=noise_multiplier, delta=delta,
                                     steps=steps[i], sampling=sampling,
                                     num_microbatches=num_microbatches,
                                     accountant=accountant)
    return out


def headline_series(*, epsilon_rdp: float | None, epsilon_pld: float | None,
                    steps_per_epoch: Sequence[int], epochs: Sequence[int], dataset_size: int,
                    batch_size: int, noise_multiplier: float, delta: float,
                    sampling: Sampling = "poisson", num_microbatches: int | None = None
                    ) -> tuple[list[float], str, dict[str, list[float]]]:
    """What the report needs beside the headline epsilon, from the headline's accountant.

    Returns:
      (epsilon per epoch from `epsilon_at_checkpoints`, the accountant's name, the
      (epsilon, delta) curve of `epsilon_delta_curve` at the last step). The accountant is
      the one whose final epsilon is the headline (`PrivacyInfo.epsilon`, the smaller).
    """
    candidates = {name: e for name, e in (("pld", epsilon_pld), ("rdp", epsilon_rdp))
                  if e is not None and math.isfinite(e)}
    steps = [int(s) for s in steps_per_epoch]
    if not candidates or not steps or noise_multiplier <= 0:
        return [], "", {}
    accountant = min(candidates, key=candidates.get)
    common = {"dataset_size": dataset_size, "batch_size": batch_size,
              "noise_multiplier": noise_multiplier, "sampling": sampling,
              "num_microbatches": num_microbatches}
    per_epoch = epsilon_at_checkpoints(steps_per_epoch=steps, accountant=accountant,
                                       final_epsilon=candidates[accountant], delta=delta,
                                       epochs=epochs, **common)
    curve = epsilon_delta_curve(steps=steps[-1], **common)
    return per_epoch, accountant, curve
