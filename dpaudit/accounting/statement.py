"""A readable statement of what a DP-SGD run guarantees, and under which assumptions.

The figures come from `dpaudit.accounting.pricing` (RDP and PLD accountants of
dp-accounting); see there for what is priced and the papers behind it.

Example:
    >>> s = dp_sgd_privacy(dataset_size=60000, batch_size=256, noise_multiplier=1.1,
    ...                    epochs=60, delta=1e-5)
    >>> round(s.epsilon_rdp, 3), round(s.epsilon_pld, 3)
    (2.597, 2.382)
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from dpaudit import validation
from dpaudit.accounting.plan import DPTrainingPlan
from dpaudit.accounting.pricing import Sampling, epsilons_after_steps, make_plan, plan_epsilon

if TYPE_CHECKING:
    from dpaudit.results import PrivacyInfo

__all__ = ["PrivacyStatement", "dp_sgd_privacy", "privacy_info", "statement_of_plan"]

logger = logging.getLogger(__name__)

# Which accountants a statement computes: "both" (default), or one of them when the
# other's cost or figure is not wanted (the CLI's --accountant).
AccountantChoice = Literal["rdp", "pld", "both"]


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
    PLD accountant converges to. An epsilon is None when that accountant was not asked
    for, or (PLD) when its cost was over budget; ``note`` then says so. At least one of
    the two is always computed.
    """

    epsilon_rdp: float | None
    epsilon_pld: float | None
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
    poisson_epsilon_rdp: float | None
    poisson_epsilon_pld: float | None

    @property
    def epsilon(self) -> float:
        """The tighter of the valid bounds computed (None ones were not computed)."""
        return min(e for e in (self.epsilon_rdp, self.epsilon_pld) if e is not None)

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
        figures = [f"({_fmt(e)}, {self.delta:g})-DP by the {name} accountant"
                   for name, e in (("PLD", self.epsilon_pld), ("RDP", self.epsilon_rdp))
                   if e is not None]
        lines = [
            f"Guarantee: {', '.join(figures)}, for {adjacency}.",
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


def _fmt(x: float | None) -> str:
    if x is None:
        return "not computed"
    return "inf" if math.isinf(x) else f"{x:.4g}"


def _note(plan: DPTrainingPlan, sigma: float, sigma_eff: float,
          poisson_rdp: float | None, poisson_pld: float | None, skipped: str) -> str:
    parts = [skipped] if skipped else []
    if sigma == 0:
        parts.append("noise_multiplier is 0: no noise, no privacy guarantee (epsilon = inf).")
    if plan.sampling == "shuffle":
        parts.append(
            "Batches were shuffled, not Poisson-sampled. The Poisson-subsampled figures "
            f"(RDP {_fmt(poisson_rdp)}, PLD {_fmt(poisson_pld)}) are NOT a valid guarantee "
            "for shuffled batches (Chua et al., 'How Private are DP-SGD Implementations?', "
            "ICML 2024). The reported epsilons are a valid but loose bound without "
            f"amplification: {plan.compositions}-fold composition of the Gaussian "
            f"mechanism with noise multiplier {sigma_eff:g}. Use Poisson sampling for the "
            "tighter, valid figure.")
    if plan.delta >= 1.0 / plan.dataset_size:
        parts.append(
            f"delta = {plan.delta:g} is not below 1/N = {1.0 / plan.dataset_size:g}: a "
            "mechanism that publishes a random training example outright meets such a delta; "
            "choose delta well below 1/N.")
    if plan.num_microbatches is not None and plan.num_microbatches < plan.batch_size:
        parts.append(
            f"num_microbatches = {plan.num_microbatches} < batch_size = {plan.batch_size}: "
            "each microbatch's mean gradient is clipped, and one example can move a clipped "
            "mean anywhere in the clip ball, so the sensitivity is 2 * l2_norm_clip; priced "
            f"with effective noise multiplier {sigma:g} / 2 = {sigma_eff:g}.")
    return " ".join(parts)


def dp_sgd_privacy(*, dataset_size: int, batch_size: int, noise_multiplier: float,
                   delta: float, steps: int | None = None, epochs: float | None = None,
                   sampling: Sampling = "poisson", num_microbatches: int | None = None,
                   accountant: AccountantChoice = "both") -> PrivacyStatement:
    """The accountants' epsilon and a statement of what was assumed.

    Arguments as in `dpaudit.accounting.compute_epsilon`; ``accountant`` picks which
    figures to compute (``"both"`` by default). For ``sampling="shuffle"`` the epsilons
    are the valid no-amplification bound and the note quotes the (invalid) Poisson
    figures.

    Example:
        >>> s = dp_sgd_privacy(dataset_size=60000, batch_size=256, noise_multiplier=1.1,
        ...                    epochs=60, delta=1e-5)
        >>> round(s.epsilon_rdp, 3), round(s.epsilon_pld, 3)
        (2.597, 2.382)
    """
    plan = make_plan(dataset_size=dataset_size, batch_size=batch_size, delta=delta,
                     steps=steps, epochs=epochs, sampling=sampling,
                     noise_multiplier=noise_multiplier, num_microbatches=num_microbatches)
    return statement_of_plan(plan, accountant=accountant)


def statement_of_plan(plan: DPTrainingPlan, *,
                      accountant: AccountantChoice = "both") -> PrivacyStatement:
    """The `PrivacyStatement` of a `DPTrainingPlan` (what `fit_private` ran)."""
    accountant = validation.check_choice("accountant", accountant, ("rdp", "pld", "both"))
    names = ("rdp", "pld") if accountant == "both" else (accountant,)
    sigma, sigma_eff = plan.noise_multiplier, plan.effective_noise_multiplier
    poisson = {a: plan_epsilon(plan, a, poisson=True) for a in names}
    valid = poisson if plan.sampling == "poisson" else {
        a: plan_epsilon(plan, a, poisson=False) for a in names}
    skipped = ""
    if "pld" in names and valid["pld"] is None:
        skipped = ("The PLD accountant was not run: at this noise and number of steps its "
                   "loss grid would need more memory than its budget (about a GB) even "
                   "when coarsened; the RDP figure is reported alone (a valid upper bound).")
        if "rdp" not in names:
            valid["rdp"] = plan_epsilon(plan, "rdp", poisson=plan.sampling == "poisson")
            poisson["rdp"] = plan_epsilon(plan, "rdp", poisson=True)
    statement = PrivacyStatement(
        epsilon_rdp=valid.get("rdp"), epsilon_pld=valid.get("pld"), delta=plan.delta,
        sampling_rate=plan.sampling_rate, steps=plan.steps, noise_multiplier=sigma,
        effective_noise_multiplier=sigma_eff, sampling=plan.sampling,
        note=_note(plan, sigma, sigma_eff, poisson.get("rdp"), poisson.get("pld"), skipped),
        dataset_size=plan.dataset_size, batch_size=plan.batch_size, epochs=plan.epochs,
        num_microbatches=plan.num_microbatches, compositions=plan.compositions,
        poisson_epsilon_rdp=poisson.get("rdp"), poisson_epsilon_pld=poisson.get("pld"))
    logger.info("DP-SGD privacy: epsilon_rdp=%s epsilon_pld=%s delta=%g sampling=%s",
                statement.epsilon_rdp, statement.epsilon_pld, statement.delta, plan.sampling)
    return statement


def privacy_info(*, dataset_size: int, batch_size: int, noise_multiplier: float,
                 l2_norm_clip: float, delta: float, steps: int, epochs: int, sampling: str,
                 num_microbatches: int | None, note: str = "",
                 epoch_steps: Sequence[int] = ()) -> "PrivacyInfo":
    """The results contract's privacy entry for one DP-SGD training, priced here.

    ``epoch_steps`` (cumulative steps at each epoch end) adds the per-epoch RDP curve.
    """
    from dpaudit.results import PrivacyInfo

    plan = DPTrainingPlan(dataset_size=dataset_size, batch_size=batch_size, steps=steps,
                          noise_multiplier=noise_multiplier, l2_norm_clip=l2_norm_clip,
                          delta=delta, sampling=sampling, num_microbatches=num_microbatches)
    statement = statement_of_plan(plan)
    per_epoch = tuple(epsilons_after_steps(plan, epoch_steps)) if epoch_steps else ()
    return PrivacyInfo(noise_multiplier=noise_multiplier, l2_norm_clip=l2_norm_clip,
                       num_microbatches=num_microbatches, batch_size=batch_size,
                       sampling=sampling, steps=steps, epochs=float(epochs),
                       dataset_size=dataset_size, delta=delta,
                       epsilon_rdp=statement.epsilon_rdp, epsilon_pld=statement.epsilon_pld,
                       accounting_note=" ".join(p for p in (statement.note, note) if p),
                       epsilon_per_epoch=per_epoch)
