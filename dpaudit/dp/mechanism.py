"""The Gaussian mechanism of DP-SGD, as small functions the DP step looks up by name.

Every private step in dpaudit (`DPModel.fit`, `fit_private`, `dp_gradients`) computes,
for per-example (or per-microbatch) gradients g_i with L2 norms n_i:

    w_i   = clip_factors(n, l2_norm_clip)                      # min(1, C / n_i)
    s     = sum_i w_i * g_i                                    # clipped sum
    s~    = add_noise(s, stddev=noise_stddev(C, sigma), seed)  # + N(0, (sigma*C)^2 I)
    g_hat = normalize(s~, denominator)                         # / (expected) batch size

The functions are:

* ``clip_factors(norms, l2_norm_clip)`` -> per-example factors w (shape of ``norms``).
* ``noise_stddev(l2_norm_clip, noise_multiplier)`` -> the noise standard deviation on
  the SUM of clipped gradients: ``noise_multiplier * l2_norm_clip``.
* ``add_noise(grad_sums, *, stddev, seed)`` -> list of ``grad_sums`` plus independent
  Gaussian noise; ``seed`` is a shape-(2,) int64 tensor for stateless sampling.
* ``normalize(grads, denominator)`` -> list of ``grads / denominator``.

The step calls them as ``mechanism.<name>(...)`` while TensorFlow traces it, so a test
can replace one with ``monkeypatch.setattr(dpaudit.dp.mechanism, "add_noise", buggy)``
to plant a bug (the canary audit's power tests do). A model caches its traced step:
plant the bug before the first ``fit`` (or set ``model.train_function = None``).

Reference: Abadi et al., "Deep Learning with Differential Privacy", CCS 2016
(https://arxiv.org/abs/1607.00133), Algorithm 1.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["clip_factors", "noise_stddev", "add_noise", "normalize"]


def clip_factors(norms: tf.Tensor, l2_norm_clip: float) -> tf.Tensor:
    """Scale factors min(1, C / n) that bring each gradient's norm to at most C."""
    clip = tf.cast(l2_norm_clip, norms.dtype)
    # C / max(n, C) equals min(1, C / n) and never divides by a zero norm.
    return clip / tf.maximum(norms, clip)


def noise_stddev(l2_norm_clip: float, noise_multiplier: float) -> float:
    """Standard deviation of the noise added to the sum of clipped gradients."""
    return noise_multiplier * l2_norm_clip


def add_noise(grad_sums: list[tf.Tensor], *, stddev: float, seed: tf.Tensor) -> list[tf.Tensor]:
    """Adds N(0, stddev^2) noise to every coordinate, a fresh stream per tensor.

    The draw depends only on the seed and the (static) shapes, never on the gradient
    values, so TensorFlow's executor can draw the noise while the step is still computing
    the clipped sums (measured: the draw is most of the DP step's overhead on a small MLP).
    """
    if stddev == 0:
        return list(grad_sums)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), len(grad_sums))
    return [g + tf.random.stateless_normal(
                g.shape if g.shape.is_fully_defined() else tf.shape(g), seed=seeds[i],
                stddev=stddev, dtype=g.dtype)
            for i, g in enumerate(grad_sums)]


def normalize(grads: list[tf.Tensor], denominator: tf.Tensor | float) -> list[tf.Tensor]:
    """Divides the noised sum by the (expected) batch size or number of microbatches."""
    return [g / tf.cast(denominator, g.dtype) for g in grads]
