"""One DP-SGD loop in plain TensorFlow, with a switch to plant one of three bugs.

Abadi et al., "Deep Learning with Differential Privacy", CCS 2016: per-example gradients
clipped to norm C, summed, Gaussian noise of standard deviation sigma * C added, divided
by the expected batch size, one plain SGD step. Poisson sampling with rate B / N.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["BUGS", "LEGACY", "dp_sgd"]

BUGS = (None, "small_noise", "no_clip", "clip_after_mean")
# The settings a trainer hard-codes when called by the old contract (no ``dp=``): the
# documented ones, claiming noise 1.0 (epsilon about 13 at 100 members, delta 1e-5).
LEGACY = {"noise_multiplier": 1.0, "l2_norm_clip": 1.0, "batch_size": 25, "epochs": 20}
LEARNING_RATE = 0.5
NUM_CLASSES = 10


def dp_sgd(x: np.ndarray, y: np.ndarray, *, seed: int, private: bool, dp: Any = None,
           bug: str | None = None) -> Any:
    """Trains a 64-unit MLP by DP-SGD (with `bug` planted) and returns it.

    Args:
      x, y: the training set.
      seed: seeds the weights, the sampling and the noise.
      private: False trains without clipping or noise.
      dp: dpaudit's `DPSettings` (new contract), or None for the `LEGACY` settings.
      bug: one of `BUGS`.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    if dp is not None:
        sigma, clip, batch, steps = (dp.noise_multiplier, dp.l2_norm_clip, dp.batch_size,
                                     dp.steps)
        observe = dp.observe
    else:
        sigma, clip, batch = (LEGACY["noise_multiplier"], LEGACY["l2_norm_clip"],
                              LEGACY["batch_size"])
        steps = LEGACY["epochs"] * math.ceil(len(x) / batch)
        observe = None
    batch = min(batch, len(x))
    model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Flatten(),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(max(NUM_CLASSES, int(y.max()) + 1),
                                                 activation="softmax")])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="none")
    variables = model.trainable_variables
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64)
    if observe is not None:
        observe(model)
    for _ in range(steps):
        chosen = (np.arange(len(x)) if batch >= len(x)
                  else np.flatnonzero(rng.random(len(x)) < batch / len(x)))
        if len(chosen) == 0:
            grads = [tf.zeros_like(v) for v in variables]
        else:
            with tf.GradientTape() as tape:
                losses = loss_fn(y[chosen], model(x[chosen], training=True))
            per_example = tape.jacobian(losses, variables)  # each (b, *shape)
            grads = _privatise(per_example, private=private, clip=clip, bug=bug,
                               count=len(chosen))
        noise_std = 0.0 if not private else sigma * clip * (0.05 if bug == "small_noise"
                                                             else 1.0)
        for v, g in zip(variables, grads):
            noise = rng.normal(0.0, noise_std, size=v.shape).astype(np.float32)
            v.assign_sub(LEARNING_RATE * (g + noise) / batch)
        if observe is not None:
            observe(model)
    return model


def _privatise(per_example: list[Any], *, private: bool, clip: float, bug: str | None,
               count: int) -> list[Any]:
    """The sum over the batch of the (clipped) per-example gradients."""
    import tensorflow as tf

    flat = tf.concat([tf.reshape(g, (count, -1)) for g in per_example], axis=1)
    if not private or bug == "no_clip":
        return [tf.reduce_sum(g, axis=0) for g in per_example]
    if bug == "clip_after_mean":
        # The bug: the batch's mean gradient is clipped, so one example's influence on
        # the step is no longer bounded by C.
        norm = tf.norm(tf.reduce_mean(flat, axis=0))
        factor = tf.minimum(1.0, clip / (norm + 1e-12))
        return [tf.reduce_sum(g, axis=0) * factor for g in per_example]
    norms = tf.norm(flat, axis=1)
    factors = tf.minimum(1.0, clip / (norms + 1e-12))
    return [tf.tensordot(factors, g, axes=1) for g in per_example]
