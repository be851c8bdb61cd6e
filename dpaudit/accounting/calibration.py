"""Noise calibration for DP-SGD: the smallest noise multiplier that meets a target epsilon.

Never relies on monotonicity of epsilon in the noise for soundness (see `_search`); the
accountants are those of `dpaudit.accounting.pricing`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import Literal

import scipy.optimize

from dpaudit import validation
from dpaudit.accounting.plan import MAX_NOISE_MULTIPLIER
from dpaudit.accounting.pricing import Sampling, make_plan, plan_epsilon
from dpaudit.errors import InputError

__all__ = ["calibrate_noise"]

logger = logging.getLogger(__name__)

# Calibration searches sigma in [_MIN_SIGMA, _MAX_SIGMA]; beyond either end the target
# is so large (or so small) that no practical DP-SGD run sits there.
_MIN_SIGMA = 1e-3
_MAX_SIGMA = MAX_NOISE_MULTIPLIER


def calibrate_noise(*, target_epsilon: float, dataset_size: int, batch_size: int,
                    delta: float, steps: int | None = None, epochs: float | None = None,
                    sampling: Sampling = "poisson", num_microbatches: int | None = None,
                    accountant: Literal["rdp", "pld", "both"] = "rdp",
                    tolerance: float = 1e-3) -> float:
    """The smallest noise multiplier (to ``tolerance``) whose epsilon is <= the target.

    Never overshoots: the search keeps a bracket ``[lo, hi]`` of evaluated noise
    multipliers with ``epsilon(hi) <= target_epsilon`` (checked, not assumed from
    monotonicity) and ``epsilon(lo) > target_epsilon``, narrows it (Brent's method,
    then bisection), and returns ``hi`` once ``hi - lo <= tolerance * hi``. So the
    returned sigma meets the target, and ``sigma * (1 - tolerance)`` does not.

    The returned value is the ``noise_multiplier`` to give the DP optimizer: with
    microbatching it is twice the effective multiplier that was priced, and for
    ``sampling="shuffle"`` it meets the target under the valid no-amplification bound.

    Args:
        target_epsilon: positive epsilon to meet at ``delta``.
        accountant: which bound must meet the target: ``"rdp"`` (default; TF Privacy's
            and the looser of the two, so the guarantee holds whichever figure a reader
            uses), ``"pld"`` (tighter, needs less noise, slower), or ``"both"`` (the
            maximum of the two must meet it).
        tolerance: relative width of the final bracket, in (0, 1).
        Other arguments as in `compute_epsilon`; steps or epochs must be positive.

    Returns:
        The calibrated noise multiplier.

    Raises:
        InputError: a bad argument, or a target needing a noise multiplier above 1e6.

    Example:
        >>> from dpaudit.accounting import compute_epsilon
        >>> s = calibrate_noise(target_epsilon=3.0, dataset_size=60000, batch_size=256,
        ...                     epochs=60, delta=1e-5)
        >>> compute_epsilon(dataset_size=60000, batch_size=256, noise_multiplier=s,
        ...                 epochs=60, delta=1e-5) <= 3.0
        True
    """
    plan = make_plan(dataset_size=dataset_size, batch_size=batch_size, delta=delta,
                     steps=steps, epochs=epochs, sampling=sampling, noise_multiplier=1.0,
                     num_microbatches=num_microbatches, positive=True)
    target = validation.check_positive("target_epsilon", target_epsilon)
    if math.isinf(target):
        raise InputError("target_epsilon must be finite, got inf")
    accountant = validation.check_choice("accountant", accountant, ("rdp", "pld", "both"))
    tolerance = validation.check_in_open_interval("tolerance", tolerance, 0.0, 1.0)
    def epsilon_of(names: tuple[str, ...]) -> Callable[[float], float]:
        def epsilon(sigma: float) -> float:
            trial = dataclasses.replace(plan, noise_multiplier=sigma)
            worst = 0.0
            for name in names:  # cheap RDP first: once over the target, skip PLD
                eps = plan_epsilon(trial, name)
                if eps is None:  # PLD over its cost budget: RDP, also an upper bound
                    eps = plan_epsilon(trial, "rdp")
                worst = max(worst, eps)
                if worst > target:
                    break
            return worst
        return epsilon

    # RDP is cheap (~20 ms); PLD costs up to seconds at small sigma. Start the PLD
    # search where RDP landed: PLD is usually tighter, so that point is usually
    # feasible already and the bracket is narrow.
    sigma_rdp = _search(epsilon_of(("rdp",)), target, 1.0, tolerance)
    if accountant == "rdp":
        return sigma_rdp
    names = ("pld",) if accountant == "pld" else ("rdp", "pld")
    return _search(epsilon_of(names), target, sigma_rdp, tolerance)


def _search(epsilon: Callable[[float], float], target: float, start: float,
            tolerance: float) -> float:
    """Smallest sigma (to tolerance) with ``epsilon(sigma) <= target``; see calibrate_noise.

    Every sigma tried is recorded as feasible or not; the answer is the smallest
    *evaluated* feasible sigma, so no step relies on monotonicity for soundness. Brent's
    method on ``log epsilon`` against ``log sigma`` (nearly linear) narrows the bracket
    in a few evaluations; bisection finishes whatever it leaves.
    """
    tried: dict[float, float] = {0.0: math.inf}  # epsilon(0) = inf: no noise

    def check(sigma: float) -> float:
        if sigma not in tried:
            tried[sigma] = epsilon(sigma)
        return tried[sigma]

    def bracket() -> tuple[float, float]:
        hi = min(s for s, e in tried.items() if e <= target)
        return max(s for s, e in tried.items() if e > target and s < hi), hi

    sigma = start
    if check(sigma) > target:
        while check(sigma) > target:
            sigma *= 2.0
            if sigma > _MAX_SIGMA:
                raise InputError(f"target_epsilon = {target:g} needs a noise_multiplier "
                                 f"above {_MAX_SIGMA:g}; raise the target or train less")
    else:
        while check(sigma) <= target:
            if sigma * 0.8 < _MIN_SIGMA:
                logger.warning("target_epsilon = %g is met by noise_multiplier %g; not "
                               "searching lower", target, sigma)
                return sigma
            sigma *= 0.8
    lo, hi = bracket()
    if 0.0 < tried[hi] and math.isfinite(tried[lo]):
        def gap(log_sigma: float) -> float:
            eps = check(math.exp(log_sigma))
            return math.log(max(eps, 1e-300)) - math.log(target) if math.isfinite(eps) else 1e3
        try:
            scipy.optimize.brentq(gap, math.log(lo), math.log(hi), xtol=tolerance / 4)
        except (ValueError, RuntimeError):  # no sign change or no convergence: bisect
            pass
        lo, hi = bracket()
    while hi - lo > tolerance * hi:
        check(0.5 * (lo + hi))
        lo, hi = bracket()
    logger.debug("calibrated noise_multiplier %g in %d evaluations", hi, len(tried) - 1)
    return hi
