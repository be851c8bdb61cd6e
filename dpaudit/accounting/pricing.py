"""Privacy accounting for DP-SGD: epsilon, noise calibration and a readable statement.

Thin wrappers over Google's dp-accounting (https://github.com/google/differential-privacy,
``dp_accounting`` >= 0.6). Two accountants, both upper bounds on the true epsilon:

* RDP: Renyi-DP of the Poisson-subsampled Gaussian (Mironov, "Renyi Differential
  Privacy", CSF 2017; Mironov, Talwar, Zhang, "Renyi Differential Privacy of the Sampled
  Gaussian Mechanism", 2019) converted to (epsilon, delta). This is what TensorFlow
  Privacy's ``compute_dp_sgd_privacy`` reports.
* PLD: privacy loss distributions (Koskela, Jalko, Honkela, AISTATS 2020; Doroshenko,
  Ghazi, Kamath, Kumar, Manurangsi, "Connect the Dots", PETS 2022), discretised
  pessimistically, so usually tighter than RDP and still a valid upper bound.

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
  figures are comparable. The Poisson figure is still quoted in the statement's note,
  labelled as not valid, for comparison.
* ``num_microbatches < batch_size`` (TF Privacy's microbatching): the clipped quantity
  is each microbatch's *mean* gradient. One example can move its microbatch's clipped
  mean anywhere in the clip ball, so the sensitivity of the noised sum is
  ``2 * l2_norm_clip``, not ``l2_norm_clip``: we price effective noise multiplier
  ``noise_multiplier / 2``. This assumes one example changes only its own microbatch.

Steps: ``epochs=E`` means ``ceil(E * N / B)`` steps, TensorFlow Privacy's convention (so
the published reference values reproduce). A training loop that runs
``steps_per_epoch(N, B) = ceil(N / B)`` steps per epoch runs slightly more; price what
ran by passing ``steps=`` (fit_private records it in ``history.history["steps"]``).

Example:
    >>> from dpaudit.accounting.pricing import compute_epsilon
    >>> round(compute_epsilon(dataset_size=60000, batch_size=256, noise_multiplier=1.1,
    ...                       epochs=60, delta=1e-5), 3)
    2.597
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import Any, Literal

import dp_accounting
import scipy.optimize
from dp_accounting import pld, rdp

from dpaudit import validation
from dpaudit.accounting.plan import SAMPLINGS
from dpaudit.results import PrivacyInfo
from dpaudit.errors import InputError

__all__ = [
    "PrivacyStatement",
    "calibrate_noise",
    "compute_epsilon",
    "dp_sgd_privacy",
    "dp_sgd_steps",
    "effective_noise_multiplier",
    "epsilon_per_epoch",
    "privacy_info",
    "steps_per_epoch",
]

logger = logging.getLogger(__name__)

Sampling = Literal["poisson", "shuffle"]
Accountant = Literal["rdp", "pld"]

ACCOUNTANTS: tuple[str, ...] = ("rdp", "pld")
# dp_accounting's default; finer costs time, coarser loosens the (still valid) bound.
_PLD_DISCRETIZATION = 1e-4
# Calibration searches sigma in [_MIN_SIGMA, _MAX_SIGMA]; beyond either end the target
# is so large (or so small) that no practical DP-SGD run sits there.
_MIN_SIGMA = 1e-3
_MAX_SIGMA = 1e6
_NR = dp_accounting.NeighboringRelation


def steps_per_epoch(dataset_size: int, batch_size: int) -> int:
    """Optimizer steps in one epoch: ``ceil(dataset_size / batch_size)``.

    Example:
        >>> steps_per_epoch(60000, 256)
        235
    """
    n, b = _check_sizes(dataset_size, batch_size)
    return -(-n // b)


def dp_sgd_steps(dataset_size: int, batch_size: int, epochs: float) -> int:
    """Steps in ``epochs`` epochs by TF Privacy's convention: ``ceil(epochs * N / B)``.

    Example:
        >>> dp_sgd_steps(60000, 256, 60)
        14063
    """
    n, b = _check_sizes(dataset_size, batch_size)
    epochs = _check_epochs(epochs)
    if float(epochs).is_integer():  # exact integer arithmetic, no float rounding
        return -(-int(epochs) * n // b)
    return int(math.ceil(epochs * n / b))


def effective_noise_multiplier(noise_multiplier: float, *, batch_size: int,
                               num_microbatches: int | None = None) -> float:
    """The noise multiplier relative to the true sensitivity of the noised sum.

    With per-example clipping (``num_microbatches`` None or equal to ``batch_size``) the
    sum moves by at most ``l2_norm_clip`` when one example is added or removed, so this
    is ``noise_multiplier``. With microbatching the clipped unit is a microbatch mean,
    which one example can move anywhere in the clip ball: sensitivity
    ``2 * l2_norm_clip``, hence ``noise_multiplier / 2``.
    """
    sigma = validation.check_non_negative("noise_multiplier", noise_multiplier)
    b = validation.check_int("batch_size", batch_size, minimum=1)
    m = _check_microbatches(num_microbatches, b)
    return sigma / 2.0 if m is not None and m < b else sigma


@dataclasses.dataclass(frozen=True)
class _Setup:
    """Validated description of one DP-SGD run (everything but the noise)."""

    dataset_size: int
    batch_size: int
    delta: float
    steps: int
    epochs: float | None
    sampling: str
    num_microbatches: int | None

    @property
    def sampling_rate(self) -> float:
        return self.batch_size / self.dataset_size

    @property
    def compositions(self) -> int:
        """Mechanisms one example takes part in, as priced (see module docstring)."""
        if self.sampling == "poisson":
            return self.steps
        # Each epoch is one pass over a fresh permutation in ceil(N/B) batches, so
        # after T steps an example was in at most ceil(T / ceil(N/B)) of them.
        k = -(-self.dataset_size // self.batch_size)
        return -(-self.steps // k)


def _check_sizes(dataset_size: int, batch_size: int) -> tuple[int, int]:
    n = validation.check_int("dataset_size", dataset_size, minimum=1)
    b = validation.check_int("batch_size", batch_size, minimum=1)
    if b > n:
        raise InputError(f"batch_size must not exceed dataset_size ({n}), got {b}")
    return n, b


def _check_epochs(epochs: float) -> float:
    epochs = validation.check_non_negative("epochs", epochs)
    if math.isinf(epochs):
        raise InputError("epochs must be finite, got inf")
    return epochs


def _check_microbatches(num_microbatches: int | None, batch_size: int) -> int | None:
    if num_microbatches is None:
        return None
    return validation.check_int("num_microbatches", num_microbatches, minimum=1,
                               maximum=batch_size)


def _setup(*, dataset_size: int, batch_size: int, delta: float, steps: int | None,
           epochs: float | None, sampling: str, num_microbatches: int | None,
           positive: bool = False) -> _Setup:
    n, b = _check_sizes(dataset_size, batch_size)
    delta = validation.check_in_open_interval("delta", delta, 0.0, 1.0)
    sampling = validation.check_choice("sampling", sampling, SAMPLINGS)
    m = _check_microbatches(num_microbatches, b)
    if (steps is None) == (epochs is None):
        raise InputError("give exactly one of steps and epochs, got "
                         + ("both" if steps is not None else "neither"))
    if steps is not None:
        steps = validation.check_int("steps", steps, minimum=1 if positive else 0)
    else:
        epochs = _check_epochs(epochs)
        if positive and epochs == 0:
            raise InputError("epochs must be positive, got 0.0")
        steps = dp_sgd_steps(n, b, epochs)
    return _Setup(n, b, delta, steps, epochs, sampling, m)


def _unit_event(setup: _Setup, sigma_eff: float, *, poisson: bool
                ) -> tuple[dp_accounting.DpEvent, dp_accounting.NeighboringRelation]:
    """One priced mechanism and the adjacency it is priced under (module docstring)."""
    if poisson:
        return (dp_accounting.PoissonSampledDpEvent(
            setup.sampling_rate, dp_accounting.GaussianDpEvent(sigma_eff)),
            _NR.ADD_OR_REMOVE_ONE)
    return dp_accounting.GaussianDpEvent(sigma_eff), _NR.REPLACE_SPECIAL


def _new_accountant(name: str, relation: dp_accounting.NeighboringRelation
                    ) -> dp_accounting.PrivacyAccountant:
    if name == "rdp":
        return rdp.RdpAccountant(neighboring_relation=relation)
    return pld.PLDAccountant(relation, value_discretization_interval=_PLD_DISCRETIZATION)


def _epsilon(setup: _Setup, sigma_eff: float, accountant: str, *, poisson: bool) -> float:
    """Epsilon at ``setup.delta``; ``poisson`` False prices the no-amplification bound."""
    if not poisson and accountant == "pld":
        # k Gaussians with multiplier s compose to one with s / sqrt(k), whose exact
        # epsilon is the analytic Gaussian mechanism's (Balle & Wang, ICML 2018): what
        # the PLD accountant approximates, without its seconds of discretised work.
        k = setup.compositions
        if k == 0:
            return 0.0
        return float(dp_accounting.get_epsilon_gaussian(sigma_eff / math.sqrt(k),
                                                        setup.delta))
    unit, relation = _unit_event(setup, sigma_eff, poisson=poisson)
    acc = _new_accountant(accountant, relation)
    count = setup.steps if poisson else setup.compositions
    if count > 0:  # dp_accounting rejects count 0; nothing released prices to 0
        acc.compose(dp_accounting.SelfComposedDpEvent(unit, count))
    return float(acc.get_epsilon(setup.delta))


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
        accountant: ``"rdp"`` or ``"pld"``.

    Returns:
        Epsilon such that training is (epsilon, delta)-DP.

    Raises:
        InputError: an argument breaks its rule; the message names it.
    """
    setup = _setup(dataset_size=dataset_size, batch_size=batch_size, delta=delta,
                   steps=steps, epochs=epochs, sampling=sampling,
                   num_microbatches=num_microbatches)
    accountant = validation.check_choice("accountant", accountant, ACCOUNTANTS)
    sigma_eff = effective_noise_multiplier(noise_multiplier, batch_size=setup.batch_size,
                                           num_microbatches=setup.num_microbatches)
    return _epsilon(setup, sigma_eff, accountant, poisson=setup.sampling == "poisson")


@dataclasses.dataclass(frozen=True)
class PrivacyStatement:
    """What a DP-SGD run guarantees, and under which assumptions.

    ``epsilon_rdp`` and ``epsilon_pld`` are always valid upper bounds for the sampling
    named in ``sampling``: for ``"poisson"`` the subsampled-Gaussian figures; for
    ``"shuffle"`` the no-amplification bound (module docstring). ``poisson_epsilon_rdp``
    and ``poisson_epsilon_pld`` hold the Poisson-subsampled figures: equal to the former
    for ``"poisson"``, and for ``"shuffle"`` NOT a valid guarantee (Chua et al., ICML
    2024), kept only for comparison. ``compositions`` is the number of Gaussian
    mechanisms priced (steps for Poisson, epochs an example can be in for shuffle).
    For ``"shuffle"``, ``epsilon_pld`` is the exact epsilon of that composition of
    Gaussians (analytic Gaussian mechanism, Balle & Wang, ICML 2018), which is what the
    PLD accountant converges to.
    """

    epsilon_rdp: float
    epsilon_pld: float
    delta: float
    sampling_rate: float
    steps: int
    noise_multiplier: float
    effective_noise_multiplier: float
    sampling: str
    note: str
    dataset_size: int
    batch_size: int
    epochs: float | None
    num_microbatches: int | None
    compositions: int
    poisson_epsilon_rdp: float
    poisson_epsilon_pld: float

    @property
    def epsilon(self) -> float:
        """The tighter of the two valid bounds."""
        return min(self.epsilon_rdp, self.epsilon_pld)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (infinite epsilons stay ``inf``; writers map them)."""
        return dataclasses.asdict(self)

    def text(self) -> str:
        """A readable statement: the guarantee, what it means, what was assumed."""
        if self.sampling == "poisson":
            adjacency = "add/remove-one-example adjacency"
            sampling = (f"Poisson subsampling: each step includes each example "
                        f"independently with probability q = B/N = {self.sampling_rate:.6g}")
        else:
            adjacency = "zero-out adjacency (one example replaced by a zero-gradient one)"
            sampling = (f"fixed-size shuffled batches (q = B/N = {self.sampling_rate:.6g}), "
                        f"priced with no amplification: {self.compositions} epoch(s), each "
                        "a Gaussian mechanism over the example's one batch")
        if self.epochs is not None:
            steps = f"{self.steps} ({self.epochs:g} epochs, ceil(epochs * N / B))"
        else:
            steps = str(self.steps)
        micro = ("per-example clipping" if self.num_microbatches is None
                 else f"{self.num_microbatches} microbatches per batch")
        lines = [
            f"Guarantee: ({_fmt(self.epsilon_pld)}, {self.delta:g})-DP by the PLD accountant, "
            f"({_fmt(self.epsilon_rdp)}, {self.delta:g})-DP by the RDP accountant, "
            f"for {adjacency}.",
            "Meaning: for any one training example and any set of outcomes (the final "
            "model and every intermediate one), the probability of that set when training "
            f"with the example is at most e^epsilon times its probability without it, plus "
            f"delta = {self.delta:g}. So no membership-inference attack on one example can have "
            "a true-positive rate above e^epsilon * (its false-positive rate) + delta.",
            "Assumed:",
            f"  sampling: {sampling}",
            f"  dataset size N = {self.dataset_size}, batch size B = {self.batch_size}",
            f"  steps: {steps}",
            f"  noise multiplier: {self.noise_multiplier:g} (noise std = noise_multiplier "
            "* l2_norm_clip, added to the sum of clipped gradients)",
            f"  effective noise multiplier: {self.effective_noise_multiplier:g} ({micro})",
            "  unit of privacy: one training example; nothing else derived from the data "
            "(e.g. hyperparameter tuning) is priced.",
        ]
        if self.note:
            lines.append(f"Note: {self.note}")
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.4g}"


def _note(setup: _Setup, sigma: float, sigma_eff: float, poisson_rdp: float,
          poisson_pld: float) -> str:
    parts = []
    if sigma == 0:
        parts.append("noise_multiplier is 0: no noise, no privacy guarantee (epsilon = inf).")
    if setup.sampling == "shuffle":
        parts.append(
            "Batches were shuffled, not Poisson-sampled. The Poisson-subsampled figures "
            f"(RDP {_fmt(poisson_rdp)}, PLD {_fmt(poisson_pld)}) are NOT a valid guarantee "
            "for shuffled batches (Chua et al., 'How Private are DP-SGD Implementations?', "
            "ICML 2024). The reported epsilons are a valid but loose bound without "
            f"amplification: {setup.compositions}-fold composition of the Gaussian "
            f"mechanism with noise multiplier {sigma_eff:g}. Use Poisson sampling for the "
            "tighter, valid figure.")
    if setup.delta >= 1.0 / setup.dataset_size:
        parts.append(
            f"delta = {setup.delta:g} is not below 1/N = {1.0 / setup.dataset_size:g}: a "
            "mechanism that publishes a random training example outright meets such a delta; "
            "choose delta well below 1/N.")
    if setup.num_microbatches is not None and setup.num_microbatches < setup.batch_size:
        parts.append(
            f"num_microbatches = {setup.num_microbatches} < batch_size = {setup.batch_size}: "
            "each microbatch's mean gradient is clipped, and one example can move a clipped "
            "mean anywhere in the clip ball, so the sensitivity is 2 * l2_norm_clip; priced "
            f"with effective noise multiplier {sigma:g} / 2 = {sigma_eff:g}.")
    return " ".join(parts)


def dp_sgd_privacy(*, dataset_size: int, batch_size: int, noise_multiplier: float,
                   delta: float, steps: int | None = None, epochs: float | None = None,
                   sampling: Sampling = "poisson",
                   num_microbatches: int | None = None) -> PrivacyStatement:
    """Both accountants' epsilon and a statement of what was assumed.

    Arguments as in `compute_epsilon`. For ``sampling="shuffle"`` the epsilons are the
    valid no-amplification bound and the note quotes the (invalid) Poisson figures.

    Example:
        >>> s = dp_sgd_privacy(dataset_size=60000, batch_size=256, noise_multiplier=1.1,
        ...                    epochs=60, delta=1e-5)
        >>> round(s.epsilon_rdp, 3), round(s.epsilon_pld, 3)
        (2.597, 2.382)
    """
    setup = _setup(dataset_size=dataset_size, batch_size=batch_size, delta=delta,
                   steps=steps, epochs=epochs, sampling=sampling,
                   num_microbatches=num_microbatches)
    sigma = validation.check_non_negative("noise_multiplier", noise_multiplier)
    sigma_eff = effective_noise_multiplier(sigma, batch_size=setup.batch_size,
                                           num_microbatches=setup.num_microbatches)
    poisson = {a: _epsilon(setup, sigma_eff, a, poisson=True) for a in ACCOUNTANTS}
    if setup.sampling == "poisson":
        valid = poisson
    else:
        valid = {a: _epsilon(setup, sigma_eff, a, poisson=False) for a in ACCOUNTANTS}
    statement = PrivacyStatement(
        epsilon_rdp=valid["rdp"], epsilon_pld=valid["pld"], delta=setup.delta,
        sampling_rate=setup.sampling_rate, steps=setup.steps, noise_multiplier=sigma,
        effective_noise_multiplier=sigma_eff, sampling=setup.sampling,
        note=_note(setup, sigma, sigma_eff, poisson["rdp"], poisson["pld"]),
        dataset_size=setup.dataset_size, batch_size=setup.batch_size, epochs=setup.epochs,
        num_microbatches=setup.num_microbatches, compositions=setup.compositions,
        poisson_epsilon_rdp=poisson["rdp"], poisson_epsilon_pld=poisson["pld"])
    logger.info("DP-SGD privacy: epsilon_rdp=%s epsilon_pld=%s delta=%g sampling=%s",
                statement.epsilon_rdp, statement.epsilon_pld, statement.delta, setup.sampling)
    return statement


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
        >>> s = calibrate_noise(target_epsilon=3.0, dataset_size=60000, batch_size=256,
        ...                     epochs=60, delta=1e-5)
        >>> compute_epsilon(dataset_size=60000, batch_size=256, noise_multiplier=s,
        ...                 epochs=60, delta=1e-5) <= 3.0
        True
    """
    setup = _setup(dataset_size=dataset_size, batch_size=batch_size, delta=delta,
                   steps=steps, epochs=epochs, sampling=sampling,
                   num_microbatches=num_microbatches, positive=True)
    target = validation.check_positive("target_epsilon", target_epsilon)
    if math.isinf(target):
        raise InputError("target_epsilon must be finite, got inf")
    accountant = validation.check_choice("accountant", accountant, ("rdp", "pld", "both"))
    tolerance = validation.check_in_open_interval("tolerance", tolerance, 0.0, 1.0)
    poisson = setup.sampling == "poisson"
    factor = effective_noise_multiplier(1.0, batch_size=setup.batch_size,
                                        num_microbatches=setup.num_microbatches)

    def epsilon_of(names: tuple[str, ...]) -> Callable[[float], float]:
        def epsilon(sigma: float) -> float:
            worst = 0.0
            for name in names:  # cheap RDP first: once over the target, skip PLD
                worst = max(worst, _epsilon(setup, sigma * factor, name, poisson=poisson))
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


def epsilon_per_epoch(*, dataset_size: int, batch_size: int, noise_multiplier: float,
                      delta: float, epochs: int, sampling: Sampling = "poisson",
                      num_microbatches: int | None = None,
                      accountant: Accountant = "rdp") -> list[float]:
    """Epsilon after each of epochs 1..``epochs``, as `compute_epsilon(epochs=e)` gives.

    Composes epoch by epoch in one accountant: about 20 ms per epoch with RDP; PLD
    re-convolves a growing distribution each epoch and takes seconds for long runs.

    Example:
        >>> [round(e, 2) for e in epsilon_per_epoch(dataset_size=60000, batch_size=256,
        ...     noise_multiplier=1.1, delta=1e-5, epochs=3)]
        [0.74, 0.81, 0.84]
    """
    epochs = validation.check_int("epochs", epochs, minimum=1)
    setup = _setup(dataset_size=dataset_size, batch_size=batch_size, delta=delta,
                   steps=None, epochs=epochs, sampling=sampling,
                   num_microbatches=num_microbatches, positive=True)
    accountant = validation.check_choice("accountant", accountant, ACCOUNTANTS)
    sigma_eff = effective_noise_multiplier(noise_multiplier, batch_size=setup.batch_size,
                                           num_microbatches=setup.num_microbatches)
    unit, relation = _unit_event(setup, sigma_eff, poisson=setup.sampling == "poisson")
    acc = _new_accountant(accountant, relation)
    out, done = [], 0
    for e in range(1, epochs + 1):
        count = dataclasses.replace(setup, steps=dp_sgd_steps(setup.dataset_size,
                                                              setup.batch_size, e)).compositions
        if count > done:
            acc.compose(dp_accounting.SelfComposedDpEvent(unit, count - done))
            done = count
        out.append(float(acc.get_epsilon(setup.delta)))
    return out


def privacy_info(*, dataset_size: int, batch_size: int, noise_multiplier: float,
                  l2_norm_clip: float, delta: float, steps: int, epochs: int, sampling: str,
                  num_microbatches: int | None, note: str = "") -> PrivacyInfo:
    """The results contract's privacy entry for one DP-SGD training, priced here."""
    from dpaudit.results import PrivacyInfo

    statement = dp_sgd_privacy(
        dataset_size=dataset_size, batch_size=batch_size, noise_multiplier=noise_multiplier,
        delta=delta, steps=steps, sampling=sampling, num_microbatches=num_microbatches)
    return PrivacyInfo(noise_multiplier=noise_multiplier, l2_norm_clip=l2_norm_clip,
                       num_microbatches=num_microbatches, batch_size=batch_size,
                       sampling=sampling, steps=steps, epochs=float(epochs),
                       dataset_size=dataset_size, delta=delta,
                       epsilon_rdp=statement.epsilon_rdp, epsilon_pld=statement.epsilon_pld,
                       accounting_note=" ".join(p for p in (statement.note, note) if p))
