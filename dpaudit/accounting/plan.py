"""What a DP-SGD training runs and what the accountant prices, from one definition.

A `DPTrainingPlan` is a frozen, validated description of one DP-SGD run: how batches
are drawn, N, B, the number of steps, the noise multiplier, the clip, the microbatches
and the target delta. `dpaudit.dp.fit_private(model, x, y, plan=plan)` runs exactly
``plan.steps`` steps of that sampling (and refuses a model whose optimizer disagrees
with the plan), and `DPTrainingPlan.dp_event` is the dp-accounting event that
`dpaudit.accounting` prices, so the two cannot drift apart (docs/architecture.md, "never get wrong"
no. 1). The idea follows jax_privacy's execution plan, where one configuration yields
both the batch selection strategy and the DpEvent.

This module imports neither TensorFlow nor dp-accounting at import time.

Example:
    >>> plan = DPTrainingPlan.for_epochs(dataset_size=60000, batch_size=256, epochs=60,
    ...                                  noise_multiplier=1.1, l2_norm_clip=1.0, delta=1e-5)
    >>> plan.steps, plan.epochs, round(plan.sampling_rate, 6)
    (14100, 60.0, 0.004267)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from dpaudit import validation
from dpaudit.errors import InputError

__all__ = ["SAMPLINGS", "MAX_NOISE_MULTIPLIER", "MAX_STEPS", "DPTrainingPlan",
           "dp_sgd_steps", "steps_per_epoch"]

# How batches are drawn: "poisson" (each example joins each step independently, what the
# accountant's amplification assumes) or "shuffle" (fixed-size batches of a shuffled set).
SAMPLINGS: tuple[str, ...] = ("poisson", "shuffle")
# Beyond these the accountants' arithmetic overflows (noise 1e300) or the run cannot
# exist (1e12 steps of a 1 ms step is 30 years); refusing them is an input error.
MAX_NOISE_MULTIPLIER = 1e6
MAX_STEPS = 10**12


def _check_sizes(dataset_size: object, batch_size: object) -> tuple[int, int]:
    n = validation.check_int("dataset_size", dataset_size, minimum=1)
    b = validation.check_int("batch_size", batch_size, minimum=1)
    if b > n:
        raise InputError(f"batch_size must not exceed dataset_size ({n}), got {b}")
    return n, b


def check_noise_multiplier(value: object) -> float:
    """A noise multiplier in [0, MAX_NOISE_MULTIPLIER] (0 means no privacy)."""
    sigma = validation.check_non_negative("noise_multiplier", value, finite=True)
    if sigma > MAX_NOISE_MULTIPLIER:
        raise InputError(f"noise_multiplier must be at most {MAX_NOISE_MULTIPLIER:g} (epsilon "
                         f"is 0 to any printed precision there), got {sigma:g}")
    return sigma


def check_steps(value: object, *, minimum: int = 0) -> int:
    """A step count in [minimum, MAX_STEPS]."""
    if isinstance(value, float) and math.isfinite(value) and value > MAX_STEPS:
        value = MAX_STEPS + 1  # report the rule, not a float-to-int conversion
    steps = validation.check_int("steps", value, minimum=minimum)
    if steps > MAX_STEPS:
        raise InputError(f"steps must be at most {MAX_STEPS:.0e}, got {value}")
    return steps


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
    epochs = validation.check_non_negative("epochs", epochs, finite=True)
    if epochs * n / b > MAX_STEPS:
        raise InputError(f"epochs must give at most {MAX_STEPS:.0e} steps (ceil(epochs * N / "
                         f"B)), got epochs {epochs:g} = {epochs * n / b:.3g} steps")
    if float(epochs).is_integer():  # exact integer arithmetic, no float rounding
        return -(-int(epochs) * n // b)
    return int(math.ceil(epochs * n / b))


@dataclasses.dataclass(frozen=True)
class DPTrainingPlan:
    """One DP-SGD run: what `fit_private` runs and what the accountant prices.

    Attributes:
        dataset_size: N, the number of training examples.
        batch_size: B (the expected batch size under Poisson sampling), 1 <= B <= N.
        steps: optimizer steps, each one noised release (0 <= steps <= 1e12).
        noise_multiplier: noise std / ``l2_norm_clip`` on the sum of clipped gradients.
        l2_norm_clip: the clip norm C (positive, finite); None when only pricing.
        delta: target delta, in (0, 1).
        sampling: ``"poisson"`` or ``"shuffle"``.
        num_microbatches: None (per-example clipping) or the number of microbatches a
            batch is split into (TF Privacy); fewer than B doubles the sensitivity.
        epochs: the epochs the steps came from, when given that way (informational).
    """

    dataset_size: int
    batch_size: int
    steps: int
    noise_multiplier: float
    delta: float
    l2_norm_clip: float | None = None
    sampling: str = "poisson"
    num_microbatches: int | None = None
    epochs: float | None = None

    def __post_init__(self) -> None:
        n, b = _check_sizes(self.dataset_size, self.batch_size)
        fields: dict[str, Any] = dict(
            dataset_size=n, batch_size=b, steps=check_steps(self.steps),
            noise_multiplier=check_noise_multiplier(self.noise_multiplier),
            delta=validation.check_in_open_interval("delta", self.delta, 0.0, 1.0),
            sampling=validation.check_choice("sampling", self.sampling, SAMPLINGS))
        if self.l2_norm_clip is not None:
            fields["l2_norm_clip"] = validation.check_positive("l2_norm_clip",
                                                               self.l2_norm_clip, finite=True)
        if self.num_microbatches is not None:
            fields["num_microbatches"] = validation.check_int(
                "num_microbatches", self.num_microbatches, minimum=1, maximum=b)
        if self.epochs is not None:
            fields["epochs"] = validation.check_non_negative("epochs", self.epochs, finite=True)
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    @classmethod
    def for_epochs(cls, *, epochs: int, **kwargs: Any) -> "DPTrainingPlan":
        """The plan of ``epochs`` whole epochs of ``ceil(N / B)`` steps (what
        `fit_private` runs), unlike TF Privacy's ``ceil(epochs * N / B)`` convention."""
        epochs = validation.check_int("epochs", epochs, minimum=1)
        per_epoch = steps_per_epoch(kwargs.get("dataset_size"), kwargs.get("batch_size"))
        if epochs * per_epoch > MAX_STEPS:
            raise InputError(f"epochs must give at most {MAX_STEPS:.0e} steps, got {epochs}")
        return cls(steps=epochs * per_epoch, epochs=epochs, **kwargs)

    @property
    def sampling_rate(self) -> float:
        """q = B / N."""
        return self.batch_size / self.dataset_size

    @property
    def steps_per_epoch(self) -> int:
        """ceil(N / B)."""
        return -(-self.dataset_size // self.batch_size)

    @property
    def effective_noise_multiplier(self) -> float:
        """The noise multiplier relative to the true sensitivity of the noised sum:
        halved when a microbatch mean (which one example can move anywhere in the clip
        ball) is the clipped unit."""
        m = self.num_microbatches
        return self.noise_multiplier / 2.0 if m is not None and m < self.batch_size else (
            self.noise_multiplier)

    @property
    def compositions(self) -> int:
        """Gaussian mechanisms one example takes part in, as priced: every step under
        Poisson sampling; under shuffling, the epochs it can be in,
        ``ceil(steps / ceil(N / B))`` (each epoch puts it in exactly one batch)."""
        if self.sampling == "poisson":
            return self.steps
        return -(-self.steps // self.steps_per_epoch)

    def with_steps(self, steps: int) -> "DPTrainingPlan":
        """The same run stopped after ``steps`` steps (e.g. after one epoch)."""
        return dataclasses.replace(self, steps=steps, epochs=None)

    def dp_event(self, *, poisson: bool | None = None) -> Any:
        """The dp-accounting event this run releases, and what the accountant prices.

        Poisson sampling: ``steps`` self-composed Poisson-subsampled Gaussians (add/remove
        adjacency). Shuffling: ``compositions`` self-composed Gaussians without
        amplification (zero-out adjacency, see `dpaudit.accounting.pricing`).
        ``poisson=True`` gives the Poisson event whatever the sampling (the figure a
        shuffled run would wrongly claim; for comparison only).
        """
        import dp_accounting  # on use: about a second to import

        poisson = self.sampling == "poisson" if poisson is None else poisson
        gaussian = dp_accounting.GaussianDpEvent(self.effective_noise_multiplier)
        if poisson:
            unit = dp_accounting.PoissonSampledDpEvent(self.sampling_rate, gaussian)
            count = self.steps
        else:
            unit, count = gaussian, self.compositions
        if count == 0:
            return dp_accounting.NoOpDpEvent()
        return dp_accounting.SelfComposedDpEvent(unit, count)

    def neighboring_relation(self, *, poisson: bool | None = None) -> Any:
        """The adjacency `dp_event` is priced under."""
        import dp_accounting

        poisson = self.sampling == "poisson" if poisson is None else poisson
        relation = dp_accounting.NeighboringRelation
        return relation.ADD_OR_REMOVE_ONE if poisson else relation.REPLACE_SPECIAL
