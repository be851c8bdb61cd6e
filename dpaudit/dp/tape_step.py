"""TF Privacy's custom-loop step: DP-SGD gradients from a vector loss and its tape.

``optimizer.minimize(vector_loss, var_list, tape=tape)`` on a DP optimizer lands here:
the per-example losses recorded on ``tape`` are grouped into the optimizer's
microbatches, each microbatch's mean-loss gradient comes from one vectorised Jacobian,
and the mechanism's arithmetic (`dpaudit.dp.mechanism`) clips, sums, noises and
normalises them (Abadi et al., "Deep Learning with Differential Privacy", CCS 2016).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from dpaudit.dp import mechanism
from dpaudit.errors import InputError

__all__ = ["tape_gradients"]


def tape_gradients(optimizer: Any, loss: Any, variables: list, tape: tf.GradientTape) -> list:
    """Clipped, noised, averaged gradients of ``variables`` from a per-example ``loss``."""
    loss = tf.convert_to_tensor(loss)
    if loss.shape.rank is not None and loss.shape.rank == 0:
        raise InputError("minimize on a DP optimizer needs one loss per example (a vector "
                         "loss, e.g. a Keras loss with reduction='none'), got a scalar")
    batch = tf.shape(loss)[0]
    m = optimizer.num_microbatches
    with tape:  # the grouping is differentiated too, so it goes on the same tape
        flat = tf.reshape(loss, [batch, -1])
        if m is None:
            units = tf.reduce_mean(flat, axis=1)
        else:
            static = loss.shape[0]
            if static is not None and static % m:
                raise InputError(f"num_microbatches={m} must divide the batch size, got "
                                 f"batch size {static}")
            units = tf.reduce_mean(tf.reshape(flat, [m, -1]), axis=1)
    jac = tape.jacobian(units, variables, experimental_use_pfor=True)
    jac = [tf.zeros(tf.concat([tf.shape(units)[:1], v.shape], 0), units.dtype) if j is None
           else tf.convert_to_tensor(j) for j, v in zip(jac, variables)]
    sq = tf.add_n([tf.reduce_sum(tf.reshape(tf.square(j), [tf.shape(j)[0], -1]), axis=1)
                   for j in jac])
    norms = tf.sqrt(sq)
    bad = tf.math.is_nan(norms)  # a NaN unit gets weight 0 (see dpaudit.dp.clipping)
    weights = tf.where(bad, tf.zeros_like(norms), mechanism.clip_factors(
        tf.where(bad, tf.zeros_like(norms), norms), optimizer.l2_norm_clip))
    sums = [tf.tensordot(weights, tf.where(
        tf.reshape(bad, [-1] + [1] * (len(j.shape) - 1)), tf.zeros_like(j), j), axes=1)
        for j in jac]
    seed = tf.stack([tf.constant(optimizer.noise_seed, tf.int64),
                     tf.cast(optimizer.iterations, tf.int64)])
    stddev = mechanism.noise_stddev(optimizer.l2_norm_clip, optimizer.noise_multiplier)
    noised = mechanism.add_noise(sums, stddev=stddev, seed=seed)
    return mechanism.normalize(noised, tf.shape(units)[0])
