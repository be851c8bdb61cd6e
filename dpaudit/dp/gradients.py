"""DP-SGD gradients for one batch: clip per example, sum, add Gaussian noise, normalise.

`dp_gradients` is the custom-training-loop entry point (the role of TensorFlow
Privacy's ``optimizer.minimize(vector_loss, ...)``); the train step of `DPModel` uses
the same `private_gradients`. The arithmetic of the mechanism goes through
`dpaudit.dp.mechanism` (see there).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from dpaudit import validation
from dpaudit.dp import mechanism
from dpaudit.dp._losses import per_example_loss
from dpaudit.dp.clipping import clipped_gradient_sum
from dpaudit.errors import InputError

__all__ = ["dp_gradients", "private_gradients", "PrivateGradients"]


@dataclass(frozen=True)
class PrivateGradients:
    """Result of one private step (tensors; gradients follow model.trainable_variables)."""

    gradients: list
    losses: tf.Tensor
    y_pred: Any
    norms: tf.Tensor
    num_nan: tf.Tensor  # units given weight 0 for a NaN loss or gradient (int32 scalar)


def _seed_tensor(seed: Any) -> tf.Tensor:
    """A shape-(2,) int64 stateless seed; fresh unpredictable randomness for None."""
    if seed is None:
        if tf.executing_eagerly():
            return tf.constant([secrets.randbits(62), secrets.randbits(62)], tf.int64)
        # Inside tf.function a Python draw would be frozen into the graph: draw per call.
        return tf.random.uniform([2], minval=0, maxval=tf.int64.max, dtype=tf.int64)
    if isinstance(seed, int) and not isinstance(seed, bool):
        validation.check_seed(seed)
        return tf.constant([seed, 0], tf.int64)
    seed = tf.cast(seed, tf.int64)
    if seed.shape != (2,):
        raise InputError(f"seed must be an int or a shape-(2,) tensor, got shape "
                                     f"{tuple(seed.shape)}")
    return seed


def private_gradients(model: keras.Model, x: Any, y: Any, loss_fn: Any, *, l2_norm_clip: float,
                      noise_multiplier: float, num_microbatches: int | None = None,
                      denominator: Any = None, seed: Any = None,
                      sample_weight: Any = None) -> PrivateGradients:
    """One DP-SGD gradient (the core of `dp_gradients` and of the DP train step).

    `loss_fn` must already be a per-example loss (`dpaudit.dp._losses.per_example_loss`).
    With `denominator` None the noised sum is divided by the number of examples (or of
    microbatches) actually in the batch; pass the expected batch size under Poisson
    sampling.
    """
    clipped = clipped_gradient_sum(model, x, y, loss_fn, l2_norm_clip=l2_norm_clip,
                                   num_microbatches=num_microbatches,
                                   sample_weight=sample_weight)
    stddev = mechanism.noise_stddev(l2_norm_clip, noise_multiplier)
    noised = mechanism.add_noise(clipped.sums, stddev=stddev, seed=_seed_tensor(seed))
    if denominator is None:
        # An empty batch has nothing to average; dividing by 1 keeps the update finite.
        denominator = tf.maximum(clipped.num_units, 1)
    grads = mechanism.normalize(noised, denominator)
    if clipped.regularization_gradients is not None:
        # Weight regularizers do not read data, so they need no clipping or noise.
        grads = [g + r for g, r in zip(grads, clipped.regularization_gradients)]
    return PrivateGradients(grads, clipped.losses, clipped.y_pred, clipped.norms,
                            clipped.num_nan)


def dp_gradients(model: keras.Model, loss_fn: Any, x: Any, y: Any, *, l2_norm_clip: float,
                 noise_multiplier: float, num_microbatches: int | None = None,
                 denominator: float | None = None, seed: Any = None) -> list[tf.Tensor]:
    """Clipped, noised, averaged gradients of `model` on one batch, for custom loops.

    Each example's gradient (or, with `num_microbatches`, each microbatch's mean
    gradient) is clipped to L2 norm `l2_norm_clip`; Gaussian noise of standard deviation
    ``noise_multiplier * l2_norm_clip`` is added to their sum, which is then divided by
    `denominator` (default: the number of examples, or of microbatches, in the batch;
    pass the EXPECTED batch size when batches are Poisson-sampled). Abadi et al. 2016.

    Args:
      model: a built Keras model (plain or DP; only its layers are used).
      loss_fn: a Keras loss object (any reduction), a loss name, or
        ``f(y_true, y_pred)`` returning one loss per example.
      x, y: the batch.
      l2_norm_clip: clipping norm C (positive).
      noise_multiplier: sigma (non-negative).
      num_microbatches: None (per-example clipping) or a divisor of the batch size.
      denominator: what the noised sum is divided by.
      seed: int, shape-(2,) int tensor, or None (fresh unpredictable noise). Inside a
        tf.function pass a per-step seed, e.g. ``tf.stack([seed, step])``: a constant
        seed there gives the same noise at every step.

    Returns:
      A list of tensors, one per ``model.trainable_variables``, ready for
      ``plain_optimizer.apply_gradients(zip(grads, model.trainable_variables))``.

    Example:
        >>> import numpy as np, keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        >>> xb, yb = np.ones((8, 4), "float32"), np.zeros(8, "int64")
        >>> grads = dp_gradients(model, keras.losses.SparseCategoricalCrossentropy(),
        ...                      xb, yb, l2_norm_clip=1.0, noise_multiplier=1.1, seed=0)
        >>> _ = keras.optimizers.SGD(0.1).apply_gradients(zip(grads, model.trainable_variables))
    """
    l2_norm_clip = validation.check_clip(l2_norm_clip)
    noise_multiplier = validation.check_noise(noise_multiplier)
    num_microbatches = validation.check_microbatches(num_microbatches)
    if denominator is not None and not isinstance(denominator, tf.Tensor):
        denominator = validation.check_clip(denominator, "denominator")
    fn = per_example_loss(loss_fn, where="loss_fn")
    return private_gradients(model, x, y, fn, l2_norm_clip=l2_norm_clip,
                             noise_multiplier=noise_multiplier,
                             num_microbatches=num_microbatches, denominator=denominator,
                             seed=seed).gradients
