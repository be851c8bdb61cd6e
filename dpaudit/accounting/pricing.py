"""Privacy accounting for DP-SGD: the epsilon of a `DPTrainingPlan` (RDP and PLD).

Thin wrappers over Google's dp-accounting (https://github.com/google/differential-privacy,
``dp_accounting`` >= 0.6). Two accountants, both upper bounds on the true epsilon:

* RDP: Renyi-DP of the Poisson-subsampled Gaussian (Mironov, "Renyi Differential
  Privacy", CSF 2017; Mironov, Talwar, Zhang, "Renyi Differential Privacy of the Sampled
  Gaussian Mechanism", 2019) converted to (epsilon, delta). This is what TensorFlow
  Privacy's ``compute_dp_sgd_privacy`` reports.
* PLD: privacy loss distributions (Koskela, Jalko, Honkela, AISTATS 2020; Doroshenko,
  Ghazi, Kamath, Kumar, Manurangsi, "Connect the Dots", PETS 2022), discretised
  pessimistically, so usually tighter than RDP and still a valid upper bound. Its cost
  is bounded (`dpaudit.accounting._pld`): when it would need more than about a GB, the
  loss grid is coarsened (still an upper bound) or, failing that, the PLD figure is not
  computed (None) and RDP stands alone.

What is priced, and why it must match what ran (docs/architecture.md, "never get wrong" no. 1):

* ``sampling="poisson"`` (default): every step includes each example independently
  with probability ``q = batch_size / dataset_size`` (Abadi et al., "Deep Learning with
  Differential Privacy", CCS 2016). This is the assumption behind amplification by
  subsampling, and the adjacency is add/remove one example.
* ``sampling="shuffle"``: fixed-size batches from a shuffled dataset. The Poisson figure
  is NOT a valid guarantee for this (Chua, Ghazi, Kamath, Kumar, Manurangsi, Sinha,
  Zhang, "How Private are DP-SGD Implementations?", ICML 2024, show the true epsilon of
  shuffling can be far larger). No tight accountant for shuffling exists, so the
  ``epsilon_*`` values for ``"shuffle"`` are a valid but loose bound *without* any
  amplification: each example is in exactly one batch per epoch, so one example takes
  part in at most ``ceil(steps / steps_per_epoch)`` Gaussian mechanisms with
  sensitivity ``l2_norm_clip``, composed adaptively. Adding or removing an example
  would shift the fixed-size batch partition, so this bound is stated for zero-out
  adjacency (an example replaced by one with zero gradient; Kairouz et al., "Practical
  and Private (Deep) Learning without Sampling or Shuffling", ICML 2021), under which the
  Poisson-subsampled Gaussian has the same epsilon as under add/remove, so the two
  figures are comparable.
* ``num_microbatches < batch_size`` (TF Privacy's microbatching): the clipped quantity
  is each microbatch's *mean* gradient. One example can move its microbatch's clipped
  mean anywhere in the clip ball, so the sensitivity of the noised sum is
  ``2 * l2_norm_clip``: we price effective noise multiplier ``noise_multiplier / 2``.

Steps: ``epochs=E`` means ``ceil(E * N / B)`` steps, TensorFlow Privacy's convention (so
the published reference values reproduce). `fit_private` runs ``ceil(N / B)`` steps per
epoch; price what ran with its `DPTrainingPlan` (`price_plan`) or ``steps=``.

Example:
    >>> from dpaudit.accounting.pricing import compute_epsilon
    >>> round(compute_epsilon(dataset_size=60000, batch_size=256, noise_multiplier=1.1,
    ...                       epochs=60, delta=1e-5), 3)
    2.597
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from dp_accounting import rdp
from dp_accounting.rdp import rdp_privacy_accountant

from dpaudit import validation
from dpaudit.accounting import _pld
from dpaudit.accounting.plan import DPTrainingPlan, check_steps, dp_sgd_steps, steps_per_epoch
from dpaudit.errors import InputError

__all__ = ["ACCOUNTANTS", "Accountant", "Sampling", "compute_epsilon", "dp_sgd_steps",
           "effective_noise_multiplier", "epsilon_curve", "epsilon_per_epoch", "epsilons_after_steps",
           "make_plan", "plan_epsilon", "steps_per_epoch"]

logger = logging.getLogger(__name__)

Sampling = Literal["poisson", "shuffle"]
Accountant = Literal["rdp", "pld"]

ACCOUNTANTS: tuple[str, ...] = ("rdp", "pld")


def effective_noise_multiplier(noise_multiplier: float, *, batch_size: int,
                               num_microbatches: int | None = None) -> float:
    """The noise multiplier relative to the true sensitivity of the noised sum.

    With per-example clipping (``num_microbatches`` None or equal to ``batch_size``) the
    sum moves by at most ``l2_norm_clip`` when one example is added or removed, so this
    is ``noise_multiplier``. With microbatching the clipped unit is a microbatch mean,
    which one example can move anywhere in the clip ball: sensitivity
    ``2 * l2_norm_clip``, hence ``noise_multiplier / 2``.
    """
    return DPTrainingPlan(dataset_size=batch_size, batch_size=batch_size, steps=0,
                          noise_multiplier=noise_multiplier, delta=0.5,
                          num_microbatches=num_microbatches).effective_noise_multiplier


def make_plan(*, dataset_size: int, batch_size: int, noise_multiplier: float, delta: float,
              steps: int | None = None, epochs: float | None = None,
              sampling: str = "poisson", num_microbatches: int | None = None,
              positive: bool = False) -> DPTrainingPlan:
    """The `DPTrainingPlan` of the keyword arguments `compute_epsilon` takes."""
    if (steps is None) == (epochs is None):
        raise InputError("give exactly one of steps and epochs, got "
                         + ("both" if steps is not None else "neither"))
    if steps is not None:
        steps = check_steps(steps, minimum=1 if positive else 0)
    else:
        epochs = validation.check_non_negative("epochs", epochs, finite=True)
        if positive and epochs == 0:
            raise InputError("epochs must be positive, got 0.0")
        steps = dp_sgd_steps(dataset_size, batch_size, epochs)
    return DPTrainingPlan(dataset_size=dataset_size, batch_size=batch_size, steps=steps,
                          noise_multiplier=noise_multiplier, delta=delta, sampling=sampling,
                          num_microbatches=num_microbatches, epochs=epochs)


def epsilon_curve(plan: DPTrainingPlan, accountant: Accountant = "rdp"):
    """``f(steps) -> epsilon`` of ``plan`` stopped after ``steps`` steps, for pricing many
    step counts of one run (an epoch-end callback): with RDP the per-step curve is
    evaluated once; PLD is priced per call (None entries fall back to RDP)."""
    accountant = validation.check_choice("accountant", accountant, ACCOUNTANTS)
    poisson = plan.sampling == "poisson"
    if accountant == "pld":
        def pld_epsilon(steps: int) -> float:
            stopped = plan.with_steps(check_steps(steps))
            eps = plan_epsilon(stopped, "pld")
            return plan_epsilon(stopped, "rdp") if eps is None else eps
        return pld_epsilon
    curve = _RdpCurve(plan, poisson=poisson)

    def rdp_epsilon(steps: int) -> float:
        stopped = plan.with_steps(check_steps(steps))
        return curve.epsilon(stopped.steps if poisson else stopped.compositions, plan.delta)
    return rdp_epsilon


class _RdpCurve:
    """The RDP curve of one step of a plan; T steps have T times it (RDP composes by
    addition), so pricing many step counts of one plan costs one RDP evaluation."""

    def __init__(self, plan: DPTrainingPlan, *, poisson: bool):
        one = plan.with_steps(1) if plan.sampling == "poisson" or poisson else (
            plan.with_steps(plan.steps_per_epoch))  # shuffle: one epoch = one Gaussian
        self._relation = one.neighboring_relation(poisson=poisson)
        acc = rdp.RdpAccountant(neighboring_relation=self._relation)
        acc.compose(one.dp_event(poisson=poisson))
        self._orders = np.asarray(acc._orders, dtype=float)  # dp-accounting's default grid
        self._unit = np.asarray(acc._rdp, dtype=float)

    def epsilon(self, count: int, delta: float) -> float:
        if count == 0:
            return 0.0
        if np.all(np.isinf(self._unit)):  # noise 0: no guarantee at all
            return math.inf
        eps, _ = rdp_privacy_accountant.compute_epsilon(self._orders, count * self._unit, delta)
        return float(eps)


def _pld_epsilon(plan: DPTrainingPlan, *, poisson: bool) -> float | None:
    sigma = plan.effective_noise_multiplier
    count = plan.steps if poisson else plan.compositions
    if count == 0:
        return 0.0
    if sigma == 0:
        return math.inf
    if not poisson:
        return _pld.gaussian_composition_epsilon(sigma=sigma, compositions=count,
                                                 delta=plan.delta)
    return _pld.poisson_gaussian_epsilon(sigma=sigma, sampling_rate=plan.sampling_rate,
                                         steps=count, delta=plan.delta)[0]


def plan_epsilon(plan: DPTrainingPlan, accountant: Accountant = "rdp", *,
                 poisson: bool | None = None) -> float | None:
    """The epsilon of ``plan.dp_event()`` at ``plan.delta``: what the plan's run releases.

    Args:
        plan: the run, as `fit_private` ran it.
        accountant: ``"rdp"`` or ``"pld"``. PLD returns None when its cost is over budget
            (see `dpaudit.accounting._pld`); RDP always returns a value.
        poisson: price the Poisson event whatever ``plan.sampling`` (comparison only).

    Returns:
        A valid upper bound on epsilon (``inf`` without noise), or None (PLD skipped).
    """
    accountant = validation.check_choice("accountant", accountant, ACCOUNTANTS)
    poisson = plan.sampling == "poisson" if poisson is None else poisson
    if accountant == "pld":
        return _pld_epsilon(plan, poisson=poisson)
    count = plan.steps if poisson else plan.compositions
    if count == 0:
        return 0.0
    return _RdpCurve(plan, poisson=poisson).epsilon(count, plan.delta)


def compute_epsilon(*, dataset_size: int, batch_size: int, noise_multiplier: float,
                    delta: float, steps: int | None = None, epochs: float | None = None,
                    sampling: Sampling = "poisson", num_microbatches: int | None = None,
                    accountant: Accountant = "rdp") -> float:
    """The epsilon of a DP-SGD run at ``delta`` (a valid upper bound).

    Args:
        dataset_size: N, the number of training examples.
        batch_size: B (expected batch size under Poisson sampling), 1 <= B <= N.
        noise_multiplier: noise std divided by ``l2_norm_clip``; 0 gives ``inf``.
        delta: target delta, in (0, 1).
        steps: optimizer steps taken (>= 0; 0 gives epsilon 0). Exclusive with ``epochs``.
        epochs: epochs, priced as ``ceil(epochs * N / B)`` steps (TF Privacy).
        sampling: ``"poisson"`` or ``"shuffle"``; for shuffle the result is the valid
            no-amplification bound (module docstring), not the Poisson figure.
        num_microbatches: TF Privacy microbatches; fewer than ``batch_size`` halves the
            effective noise multiplier (sensitivity ``2 * l2_norm_clip``).
        accountant: ``"rdp"`` or ``"pld"``. When the PLD would cost more than its budget,
            the RDP figure is returned instead (also an upper bound) and a note logged.

    Returns:
        Epsilon such that training is (epsilon, delta)-DP.

    Raises:
        InputError: an argument breaks its rule; the message names it.
    """
    plan = make_plan(dataset_size=dataset_size, batch_size=batch_size, delta=delta,
                     steps=steps, epochs=epochs, sampling=sampling,
                     noise_multiplier=noise_multiplier, num_microbatches=num_microbatches)
    accountant = validation.check_choice("accountant", accountant, ACCOUNTANTS)
    epsilon = plan_epsilon(plan, accountant)
    if epsilon is None:
        logger.warning("the PLD accountant would exceed its memory budget for this run; "
                       "returning the RDP epsilon (also an upper bound)")
        epsilon = plan_epsilon(plan, "rdp")
    return epsilon


def epsilons_after_steps(plan: DPTrainingPlan, steps: Sequence[int], *,
                         accountant: Accountant = "rdp") -> list[float]:
    """Epsilon of ``plan`` stopped after each of ``steps`` (e.g. the cumulative steps at
    each epoch end), incrementally: with RDP one evaluation of the per-step curve serves
    every entry (about 0.1 s in all instead of 0.1 s per entry).

    PLD entries fall back to RDP when over budget (both are upper bounds).
    """
    epsilon = epsilon_curve(plan, accountant)
    return [epsilon(s) for s in steps]


def epsilon_per_epoch(*, dataset_size: int, batch_size: int, noise_multiplier: float,
                      delta: float, epochs: int, sampling: Sampling = "poisson",
                      num_microbatches: int | None = None,
                      accountant: Accountant = "rdp") -> list[float]:
    """Epsilon after each of epochs 1..``epochs``, as `compute_epsilon(epochs=e)` gives.

    Example:
        >>> [round(e, 2) for e in epsilon_per_epoch(dataset_size=60000, batch_size=256,
        ...     noise_multiplier=1.1, delta=1e-5, epochs=3)]
        [0.74, 0.81, 0.84]
    """
    epochs = validation.check_int("epochs", epochs, minimum=1)
    plan = make_plan(dataset_size=dataset_size, batch_size=batch_size, delta=delta,
                     epochs=epochs, sampling=sampling, noise_multiplier=noise_multiplier,
                     num_microbatches=num_microbatches, positive=True)
    return epsilons_after_steps(
        plan, [dp_sgd_steps(plan.dataset_size, plan.batch_size, e) for e in range(1, epochs + 1)],
        accountant=accountant)
