"""`fit_private(plan=...)`: a `DPTrainingPlan` turned into what `fit_private` runs.

The plan (`dpaudit.accounting.plan`) is the one definition of a DP-SGD run; here it is
checked against the data and the model (a DP model's noise multiplier, clip and
microbatches must be the plan's) before `fit_private` runs its whole epochs, so what
runs is what ``dpaudit.accounting.plan_epsilon(plan)`` prices.
"""

from __future__ import annotations

from typing import Any

import keras

from dpaudit.accounting.plan import DPTrainingPlan
from dpaudit.dp.models import dp_settings, is_private_model
from dpaudit.errors import InputError

__all__ = ["DPTrainingPlan", "settings_of_plan"]


def settings_of_plan(plan: Any, model: keras.Model, n: int, batch_size: Any, epochs: Any,
               sampling: Any) -> tuple[int, int, str]:
    """batch_size, epochs and sampling of a plan, checked against the data and model."""
    if not isinstance(plan, DPTrainingPlan):
        raise InputError(f"plan must be a dpaudit.accounting.DPTrainingPlan, got "
                         f"{type(plan).__name__}")
    given = dict(batch_size=batch_size, epochs=epochs, sampling=sampling)
    if any(v is not None for v in given.values()):
        raise InputError("give either a plan or batch_size/epochs/sampling, not both (got "
                         + ", ".join(k for k, v in given.items() if v is not None) + ")")
    if plan.dataset_size != n:
        raise InputError(f"plan.dataset_size is {plan.dataset_size} but x has {n} examples")
    per_epoch = plan.steps_per_epoch
    if plan.steps == 0 or plan.steps % per_epoch:
        raise InputError(f"plan.steps must be a positive multiple of ceil(N / B) = {per_epoch} "
                         f"(fit_private runs whole epochs), got {plan.steps}; build it with "
                         "DPTrainingPlan.for_epochs")
    settings = dp_settings(model) if is_private_model(model) else None
    if settings is not None:
        ran = dict(noise_multiplier=settings.noise_multiplier,
                   num_microbatches=settings.num_microbatches)
        if plan.l2_norm_clip is not None:
            ran["l2_norm_clip"] = settings.l2_norm_clip
        for name, value in ran.items():
            if getattr(plan, name) != value:
                raise InputError(f"plan.{name} is {getattr(plan, name)} but the model trains "
                                 f"with {name}={value}: what runs must be what is priced")
    return plan.batch_size, plan.steps // per_epoch, plan.sampling
