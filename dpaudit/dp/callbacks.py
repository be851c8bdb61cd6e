"""A Keras callback that prices, after every epoch, the DP-SGD steps actually taken.

The accountant is `dpaudit.accounting.compute_epsilon` (Abadi et al., "Deep Learning
with Differential Privacy", CCS 2016, with the RDP or PLD accountant of dp-accounting).
The callback counts train batches itself instead of assuming ``epochs * ceil(N / B)``,
so an epoch cut short, ``steps_per_epoch`` or repeated ``fit`` calls are all priced as
they ran (docs/architecture.md: the epsilon must match what was actually used).
"""

from __future__ import annotations

import logging

import keras

from dpaudit import accounting

__all__ = ["EpsilonCallback"]

logger = logging.getLogger(__name__)


class EpsilonCallback(keras.callbacks.Callback):
    """Logs epsilon after each epoch into ``logs["epsilon"]`` and ``self.epsilons``.

    Steps are counted from ``on_train_batch_end``: each epoch contributes the last
    batch index seen plus one. With ``steps_per_execution > 1`` Keras reports only the
    end index of each execution, which can overstate a final partial execution; the
    count then errs towards more steps, i.e. a larger (still valid) epsilon, never a
    smaller one. Steps accumulate over repeated ``fit`` calls, because privacy loss does.

    ``sampling`` is required: the callback cannot see how batches were drawn, and the
    Poisson figure is not a valid guarantee for shuffled batches (see
    `dpaudit.accounting`). ``model.fit(x, y, batch_size=B)`` shuffles; only a Poisson
    sampler (``dpaudit.dp.fit_private(..., sampling="poisson")``) earns the Poisson figure.

    Args:
        dataset_size: N, the number of training examples.
        batch_size: B (expected batch size under Poisson sampling).
        noise_multiplier: the DP optimizer's noise multiplier.
        delta: target delta, in (0, 1).
        sampling: ``"poisson"`` or ``"shuffle"``, as the batches were actually drawn.
        num_microbatches: the DP optimizer's ``num_microbatches``.
        accountant: ``"rdp"`` (default, ~20 ms per epoch) or ``"pld"``.

    Attributes:
        epsilons: epsilon after each epoch seen, in order.
        steps: cumulative steps priced after each epoch, in order.

    Example:
        >>> cb = EpsilonCallback(dataset_size=1000, batch_size=50, noise_multiplier=1.1,
        ...                      delta=1e-5, sampling="poisson")
        >>> # model.fit(..., callbacks=[cb]); history.history["epsilon"] == cb.epsilons
    """

    def __init__(self, *, dataset_size: int, batch_size: int, noise_multiplier: float,
                 delta: float, sampling: accounting.Sampling,
                 num_microbatches: int | None = None,
                 accountant: accounting.Accountant = "rdp") -> None:
        super().__init__()
        self._kwargs = dict(dataset_size=dataset_size, batch_size=batch_size,
                            noise_multiplier=noise_multiplier, delta=delta,
                            sampling=sampling, num_microbatches=num_microbatches,
                            accountant=accountant)
        # Validate now, at construction, not one epoch into training; the curve of this
        # run is evaluated once and priced incrementally at each epoch end.
        plan = accounting.DPTrainingPlan(
            steps=0, **{k: v for k, v in self._kwargs.items() if k != "accountant"})
        self._epsilon_after = accounting.epsilon_curve(plan, accountant)
        self.epsilons: list[float] = []
        self.steps: list[int] = []
        self._total_steps = 0
        self._epoch_steps = 0

    @property
    def total_steps(self) -> int:
        """Steps priced so far."""
        return self._total_steps

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._check_optimizer()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_steps = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._epoch_steps = max(self._epoch_steps, int(batch) + 1)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._total_steps += self._epoch_steps
        self._epoch_steps = 0
        epsilon = self._epsilon_after(self._total_steps)
        self.epsilons.append(epsilon)
        self.steps.append(self._total_steps)
        if logs is not None:
            logs["epsilon"] = epsilon
        logger.info("epoch %d: %d DP-SGD steps so far, epsilon = %.4g at delta = %g "
                    "(%s, %s sampling)", epoch + 1, self._total_steps, epsilon,
                    self._kwargs["delta"], self._kwargs["accountant"],
                    self._kwargs["sampling"])

    def _check_optimizer(self) -> None:
        """Warns when the model's DP optimizer disagrees with what is being priced."""
        optimizer = getattr(self.model, "optimizer", None)
        for name in ("noise_multiplier", "num_microbatches"):
            if not hasattr(optimizer, name):
                continue
            actual, priced = getattr(optimizer, name), self._kwargs[name]
            if actual is None or priced is None:
                same = actual is None and priced is None
            else:
                try:
                    same = float(actual) == float(priced)
                except (TypeError, ValueError):  # e.g. a tensor-valued schedule
                    continue
            if not same:
                logger.warning("EpsilonCallback prices %s=%s but the model's optimizer "
                               "uses %s=%s; the logged epsilon does not describe this run",
                               name, priced, name, actual)

