"""DP-SGD optimizers for Keras 3 with TensorFlow Privacy's arguments.

A Keras 3 optimizer only ever sees the batch's averaged gradient, so it cannot clip
per-example gradients. These classes therefore carry the DP parameters
(``l2_norm_clip``, ``noise_multiplier``, ``num_microbatches``) and apply updates, while
the clipping and noise happen in the train step of `DPModel` / `DPSequential`
(see `dpaudit.dp.models`). To make the mistake of training a plain ``keras.Model``
with one of them impossible, they refuse every update that did not come from a DP
step, with an error that says how to fix it.

Example:
    >>> opt = DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.1,
    ...                           learning_rate=0.1)
    >>> opt.get_config()["noise_multiplier"]
    1.1
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import keras

from dpaudit import validation
from dpaudit.errors import InputError

__all__ = ["DPKerasSGDOptimizer", "DPKerasAdamOptimizer", "DPKerasAdagradOptimizer",
           "VectorizedDPKerasSGDOptimizer", "VectorizedDPKerasAdamOptimizer",
           "VectorizedDPKerasAdagradOptimizer", "is_dp_optimizer"]

_FIX = ("Wrap the model with dpaudit.dp.make_private(model), or build it as "
        "dpaudit.dp.DPSequential / dpaudit.dp.DPModel, then compile and fit it. In a custom "
        "training loop, either call opt.minimize(vector_loss, var_list, tape=tape) with a "
        "per-example loss computed under the tape (TF Privacy's recipe), or compute "
        "grads = dpaudit.dp.dp_gradients(model, loss_fn, x, y, l2_norm_clip=...,"
        " noise_multiplier=..., seed=...) and apply them with a PLAIN optimizer: "
        "keras.optimizers.SGD(...).apply_gradients(zip(grads, model.trainable_variables)).")


class _DPOptimizerMixin:
    """DP parameters, their config, and the guard against non-private updates."""

    def __init__(self, *, l2_norm_clip: float, noise_multiplier: float,
                 num_microbatches: int | None = None, noise_seed: int | None = None,
                 **kwargs: Any):
        l2_norm_clip = validation.check_clip(l2_norm_clip)
        noise_multiplier = validation.check_noise(noise_multiplier)
        num_microbatches = validation.check_microbatches(num_microbatches)
        noise_seed = validation.check_seed(noise_seed, "noise_seed")
        if kwargs.get("gradient_accumulation_steps") not in (None, 1):
            # Accumulating noised steps changes the noise per update and the accounting.
            raise InputError("gradient_accumulation_steps is not supported by DP optimizers, "
                             f"got {kwargs['gradient_accumulation_steps']}; raise batch_size "
                             "instead")
        super().__init__(**kwargs)
        self.l2_norm_clip = l2_norm_clip
        self.noise_multiplier = noise_multiplier
        self.num_microbatches = num_microbatches
        self._config_noise_seed = noise_seed
        # Unseeded noise must be unpredictable: a seed an adversary knows lets them
        # subtract the noise. Fixed seeds are for reproducible audits.
        self.noise_seed = noise_seed if noise_seed is not None else secrets.randbits(62)
        self._dp_private_apply = False

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(l2_norm_clip=self.l2_norm_clip, noise_multiplier=self.noise_multiplier,
                      num_microbatches=self.num_microbatches,
                      noise_seed=self._config_noise_seed)
        return config

    def apply(self, grads, trainable_variables=None):
        if not self._dp_private_apply:
            raise plain_model_error(self)
        return super().apply(grads, trainable_variables)

    def minimize(self, loss: Any, var_list: Any, tape: Any = None) -> None:
        """One DP-SGD step from a VECTOR loss, with TF Privacy's meaning.

        ``loss`` holds one loss per example, computed under ``tape``. It is split into
        ``num_microbatches`` contiguous microbatches (None: one per example) whose mean
        losses are differentiated one by one (a vectorised Jacobian), each microbatch
        gradient is clipped to ``l2_norm_clip``, Gaussian noise of standard deviation
        ``noise_multiplier * l2_norm_clip`` is added to their sum, and the sum divided
        by the number of microbatches is applied (Abadi et al., CCS 2016). The noise is
        stateless, seeded by ``(noise_seed, iterations)``.

        Example:
            >>> import numpy as np, keras, tensorflow as tf
            >>> from dpaudit.dp import DPKerasSGDOptimizer
            >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
            >>> x, y = np.ones((8, 4), "float32"), np.zeros(8, "int64")
            >>> opt = DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.1,
            ...                           learning_rate=0.1)
            >>> with tf.GradientTape() as tape:
            ...     vector_loss = keras.losses.sparse_categorical_crossentropy(
            ...         y, model(x, training=True), from_logits=True)
            >>> _ = opt.minimize(vector_loss, model.trainable_variables, tape=tape)
        """
        from dpaudit.dp.tape_step import tape_gradients

        if tape is None or callable(loss):
            raise InputError(
                f"{type(self).__name__}.minimize needs the per-example (vector) loss and "
                "the GradientTape it was computed under: opt.minimize(vector_loss, "
                "var_list, tape=tape). Or compute grads = dpaudit.dp.dp_gradients(model, "
                "loss_fn, x, y, l2_norm_clip=..., noise_multiplier=..., seed=...) and apply "
                "them with a plain Keras optimizer.")
        variables = list(var_list() if callable(var_list) else var_list)
        grads = tape_gradients(self, loss, variables, tape)
        apply_private(self, grads, variables)

    @contextlib.contextmanager
    def _private_updates(self):
        """Lets the DP train step (and only it) apply its clipped, noised gradients."""
        previous = self._dp_private_apply
        self._dp_private_apply = True
        try:
            yield
        finally:
            self._dp_private_apply = previous


def is_dp_optimizer(optimizer: object) -> bool:
    """True for the DP optimizers of this module (and subclasses)."""
    return isinstance(optimizer, _DPOptimizerMixin)


def plain_model_error(optimizer: object) -> InputError:
    """The error for a DP optimizer asked to apply gradients outside a DP step."""
    return InputError(
        f"{type(optimizer).__name__} was asked to apply gradients outside a DP step (a "
        "plain keras.Model train step, or apply_gradients in a custom loop); it cannot tell "
        "whether they were clipped and noised, so it refuses rather than risk training "
        "without privacy. A DP optimizer clips and noises itself, so gradients from "
        "dp_gradients (already private) go to a plain optimizer. " + _FIX)


def apply_private(optimizer: _DPOptimizerMixin, grads: list, variables: list) -> None:
    """Applies already clipped and noised gradients (used by the DP train step)."""
    with optimizer._private_updates():
        optimizer.apply(grads, variables)


_DOC = """{base} with DP-SGD's parameters (TensorFlow Privacy's `{name}`).

    Use with `DPModel`, `DPSequential` or `make_private(model)`: the model's train step
    clips each example's gradient to L2 norm ``l2_norm_clip``, adds Gaussian noise of
    standard deviation ``noise_multiplier * l2_norm_clip`` to the sum, divides by the
    (expected) batch size and hands the result to this optimizer. A plain ``keras.Model``
    compiled with it raises an error on its first step instead of training without privacy.

    Args:
      l2_norm_clip: clipping norm C (positive).
      noise_multiplier: sigma, noise standard deviation in units of C (non-negative).
      num_microbatches: None for per-example clipping (the default); else the batch is
        split into this many equal microbatches and each microbatch's MEAN gradient is
        clipped (TensorFlow Privacy's meaning; the accountant must know, see
        dpaudit.accounting).
      noise_seed: seed of the noise stream (reproducible runs); None draws an
        unpredictable one. `fit_private(seed=...)` sets it from its own seed. The DP
        guarantee assumes the noise is secret: anyone who knows the seed can recompute
        and subtract it, so keep seeds of models that ship private (or pass None).
      **kwargs: the base optimizer's arguments, e.g. ``learning_rate``.

    Reference: Abadi et al., "Deep Learning with Differential Privacy", CCS 2016.
    """


@keras.saving.register_keras_serializable(package="dpaudit")
class DPKerasSGDOptimizer(_DPOptimizerMixin, keras.optimizers.SGD):
    __doc__ = _DOC.format(base="keras.optimizers.SGD", name="DPKerasSGDOptimizer")


@keras.saving.register_keras_serializable(package="dpaudit")
class DPKerasAdamOptimizer(_DPOptimizerMixin, keras.optimizers.Adam):
    __doc__ = _DOC.format(base="keras.optimizers.Adam", name="DPKerasAdamOptimizer")


@keras.saving.register_keras_serializable(package="dpaudit")
class DPKerasAdagradOptimizer(_DPOptimizerMixin, keras.optimizers.Adagrad):
    __doc__ = _DOC.format(base="keras.optimizers.Adagrad", name="DPKerasAdagradOptimizer")


# TF Privacy's vectorised optimizers (named in its how-to) are the same thing here:
# every dpaudit DP optimizer computes per-example gradients vectorised.
VectorizedDPKerasSGDOptimizer = DPKerasSGDOptimizer
VectorizedDPKerasAdamOptimizer = DPKerasAdamOptimizer
VectorizedDPKerasAdagradOptimizer = DPKerasAdagradOptimizer
