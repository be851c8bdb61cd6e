"""The PLD accountant's epsilon for Poisson-subsampled Gaussians, at a bounded cost.

dp-accounting's PLD of T self-composed subsampled Gaussians is a grid over the privacy
loss with spacing ``h`` (default 1e-4). Its size grows like (loss range) / h per step
and by up to a factor T under composition, so small noise multipliers or many steps
take minutes and tens of GB (noise 0.1 on 14,000 steps: 81 s and 4.3 GB; 1e14 steps:
an array of 104 TiB). Here the grid is planned first: the per-step loss range is
estimated from sigma and ``h`` widened so the per-step grid stays under
``_MAX_STEP_POINTS``; the composed grid's length is then read off dp-accounting's own
Chernoff truncation bounds (what `self_compose` is about to allocate) and ``h`` widened
until it fits ``_MAX_COMPOSED_POINTS``. Pessimistic discretisation rounds every loss up
at any ``h`` (Koskela et al., AISTATS 2020; Doroshenko et al., PETS 2022), so a coarser
grid gives a looser but still valid upper bound. When even ``_MAX_INTERVAL`` does not
fit, no PLD figure is computed and the caller reports RDP alone with a note.
"""

from __future__ import annotations

import logging
import math

import dp_accounting
from dp_accounting.pld import common
from dp_accounting.pld import privacy_loss_distribution as pld_lib

__all__ = ["DEFAULT_INTERVAL", "gaussian_composition_epsilon", "poisson_gaussian_epsilon",
           "poisson_gaussian_pld"]

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1e-4
_TAIL_MASS = 1e-15  # dp-accounting's default truncation in self_compose
_MAX_STEP_POINTS = 1 << 20
# ~32 MB of float64 per grid, a few of them live during the FFT: well under a GB.
_MAX_COMPOSED_POINTS = 1 << 22
# A loss grid coarser than this is too loose to be worth its seconds; RDP is reported.
_MAX_INTERVAL = 0.05


def _loss_range(sigma: float) -> float:
    """Width of the per-step privacy-loss support dp-accounting keeps (sensitivity 1).

    The Gaussian's loss at output x is (2x - 1) / (2 sigma^2) with x kept within 10
    sigma of 0 and 1 (log mass truncation -50, so tails below e^-50); subsampling only
    narrows it.
    """
    return (1.0 + 2 * 10.5 * sigma) / sigma**2


def _composed_points(step: pld_lib.PrivacyLossDistribution, count: int) -> int | None:
    """Length of the grid ``step.self_compose(count)`` would allocate (None: unknown)."""
    pmfs = [getattr(step, "_pmf_remove", None), getattr(step, "_pmf_add", None)]
    worst = 0
    for pmf in pmfs:
        probs = getattr(pmf, "_probs", None)
        if pmf is None:
            continue
        if probs is None:  # a sparse pmf: small by construction, composed densely
            return None
        low, high = common.compute_self_convolve_bounds(probs, count, _TAIL_MASS)
        worst = max(worst, high - low + 1)
    return worst


def poisson_gaussian_pld(*, sigma: float, sampling_rate: float, steps: int
                         ) -> tuple[pld_lib.PrivacyLossDistribution | None, float]:
    """PLD of ``steps`` Poisson-subsampled Gaussians on a grid within budget, or None.

    Args:
        sigma: noise multiplier relative to the sensitivity (> 0).
        sampling_rate: q in (0, 1].
        steps: number of compositions (>= 1).

    Returns:
        ``(pld, interval)``: the composed distribution (None when no grid within
        `_MAX_INTERVAL` fits the budget) and the loss grid spacing used (larger than
        `DEFAULT_INTERVAL` when the budget forced it). Any delta can be priced from it.
    """
    interval = max(DEFAULT_INTERVAL, _loss_range(sigma) / _MAX_STEP_POINTS)
    for _ in range(6):
        if interval > _MAX_INTERVAL:
            break
        step = pld_lib.from_gaussian_mechanism(
            standard_deviation=sigma, value_discretization_interval=interval,
            sampling_prob=sampling_rate,
            neighboring_relation=dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE)
        points = _composed_points(step, steps)
        if points is not None and points > _MAX_COMPOSED_POINTS:
            # The composed loss range is fixed; the grid length scales as 1 / interval.
            interval *= 1.25 * points / _MAX_COMPOSED_POINTS
            continue
        if interval > DEFAULT_INTERVAL:
            logger.info("PLD computed on a loss grid of spacing %.3g (default %g) to bound "
                        "its cost; still an upper bound", interval, DEFAULT_INTERVAL)
        return step.self_compose(steps), interval
    logger.info("PLD not computed: its loss grid would need spacing > %g (sigma=%g, q=%g, "
                "steps=%d)", _MAX_INTERVAL, sigma, sampling_rate, steps)
    return None, interval


def poisson_gaussian_epsilon(*, sigma: float, sampling_rate: float, steps: int,
                             delta: float) -> tuple[float | None, float]:
    """PLD epsilon of ``steps`` Poisson-subsampled Gaussians at ``delta``, or None when
    over budget (see `poisson_gaussian_pld`); returns ``(epsilon, interval)``."""
    composed, interval = poisson_gaussian_pld(sigma=sigma, sampling_rate=sampling_rate,
                                              steps=steps)
    if composed is None:
        return None, interval
    return float(composed.get_epsilon_for_delta(delta)), interval


def gaussian_composition_epsilon(*, sigma: float, compositions: int, delta: float) -> float:
    """Exact epsilon of ``compositions`` Gaussians with multiplier ``sigma``: they compose
    to one with ``sigma / sqrt(k)``, priced by the analytic Gaussian mechanism (Balle &
    Wang, ICML 2018), which is what the PLD accountant converges to."""
    if compositions == 0:
        return 0.0
    return float(dp_accounting.get_epsilon_gaussian(sigma / math.sqrt(compositions), delta))
