"""The compiled step of `dpaudit.training.stacked`: K dense networks, one step, at once.

Weights carry a leading model axis (kernel ``(K, d_in, d_out)``, bias ``(K, d_out)``);
a step gathers each model's padded batch ``(K, B_max)`` from the pool, runs the K
forward passes as batched matrix products, and takes one backward pass through the
SUM of the per-example losses. Because no example's loss depends on another example,
the gradient of that sum with respect to a layer's pre-activations ``z`` holds every
example's own gradient, and for a Dense layer with input ``a_i`` the per-example
gradient is the outer product ``a_i g_i^T`` (kernel) and ``g_i`` (bias), with squared
norm ``||a_i||^2 ||g_i||^2 + ||g_i||^2`` (Goodfellow, "Efficient Per-Example Gradient
Computations", 2015, arXiv:1510.01799). DP-SGD (Abadi et al., CCS 2016) then clips,
sums, noises and normalises each model's gradients through `dpaudit.dp.mechanism`,
called per model, so planted-bug tests that swap those functions reach the stack too.

The optimizers repeat Keras 3's update rules (SGD without momentum, Adam, Adagrad)
with per-model step counters, and leave a model untouched on a step it does not take
(a finished model, or an empty Poisson batch of the plain arm, which Keras skips).
"""

from __future__ import annotations

import tensorflow as tf

from dpaudit.dp import mechanism

__all__ = ["StackState", "make_step"]

# Keras 3 defaults of the optimizers the recipes build (learning rate aside).
_ADAM_BETA_1, _ADAM_BETA_2, _EPSILON = 0.9, 0.999, 1e-7
_ADAGRAD_INITIAL = 0.1


class StackState:
    """Variables of K stacked dense networks and their optimizer slots."""

    def __init__(self, params: list, optimizer: str):
        self.params = [tf.Variable(p, dtype=tf.float32) for p in params]
        self.optimizer = optimizer
        if optimizer == "adam":
            self.slots = [[tf.Variable(tf.zeros_like(p)) for p in self.params]
                          for _ in range(2)]
        elif optimizer == "adagrad":
            self.slots = [[tf.Variable(tf.fill(tf.shape(p), _ADAGRAD_INITIAL))
                           for p in self.params]]
        else:
            self.slots = []

    def numpy(self) -> list:
        return [p.numpy() for p in self.params]


def _per_model(values: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """Reshapes a (K,) vector to broadcast against a (K, ...) tensor."""
    return tf.reshape(values, [-1] + [1] * (len(like.shape) - 1))


def _apply(state: StackState, grads: list, apply: tf.Tensor, iterations: tf.Tensor,
           learning_rate: float) -> None:
    """One optimizer update per model where `apply` is 1; untouched where it is 0."""
    lr = tf.constant(learning_rate, tf.float32)
    step = tf.cast(iterations + 1, tf.float32)  # Keras' local_step = iterations + 1
    for i, (var, g) in enumerate(zip(state.params, grads)):
        on = _per_model(apply, var)
        if state.optimizer == "sgd":
            update = lr * g
        elif state.optimizer == "adam":
            # Keras' m += (g - m)(1 - beta_1), v += (g^2 - v)(1 - beta_2), each scaled by
            # `on` (exactly 1 or 0), so a skipped model's slots stay as they were.
            m_var, v_var = state.slots[0][i], state.slots[1][i]
            m_var.assign_add((g - m_var) * (on * (1 - _ADAM_BETA_1)))
            v_var.assign_add((tf.square(g) - v_var) * (on * (1 - _ADAM_BETA_2)))
            alpha = lr * tf.sqrt(1 - tf.pow(_ADAM_BETA_2, step)) / (1 - tf.pow(_ADAM_BETA_1,
                                                                            step))
            update = m_var * _per_model(alpha * apply, var) / (tf.sqrt(v_var) + _EPSILON)
        else:  # adagrad
            acc_var = state.slots[0][i]
            acc_var.assign_add(tf.square(g) * on)
            update = lr * g * on / tf.sqrt(acc_var + _EPSILON)
        if state.optimizer == "sgd":
            update = update * on
        var.assign_sub(update)


def make_step(state: StackState, x: tf.Tensor, y: tf.Tensor, *, learning_rate: float,
              private: bool, l2_norm_clip: float, noise_multiplier: float,
              denominator: float | None, noise_seeds: tf.Tensor):
    """The compiled step ``step(idx, valid, apply, iterations)`` for all K models.

    Args:
      state: the stacked variables.
      x, y: the pool (n, d) float32 and labels (n,) int32.
      learning_rate: the recipe's learning rate.
      private: DP-SGD (per-model clipping and noise) or plain mean-loss gradients.
      l2_norm_clip, noise_multiplier: C and sigma of the dp arm.
      denominator: what the noised sum is divided by (the expected batch size under
        Poisson sampling); None divides by the actual batch size.
      noise_seeds: (K,) int64 noise seed per model; step t of model k draws its noise
        with the stateless seed (noise_seeds[k], t), as `DPModel`'s step does.

    Returns:
      A tf.function taking idx (K, B_max) int32 pool rows, valid (K, B_max) float32
      (1 = a real example, 0 = padding), apply (K,) float32 and iterations (K,) int64
      (each model's optimizer step count), and returning the (K,) mean batch losses.
    """
    n_layers = len(state.params) // 2
    k_models = int(state.params[0].shape[0])

    @tf.function(reduce_retracing=True)
    def step(idx, valid, apply, iterations):
        xb = tf.gather(x, idx)
        yb = tf.gather(y, idx)
        inputs, pre = [], []
        with tf.GradientTape() as tape:
            h = xb
            for layer in range(n_layers):
                kernel, bias = state.params[2 * layer], state.params[2 * layer + 1]
                z = tf.linalg.matmul(h, kernel) + bias[:, None, :]
                inputs.append(h)
                pre.append(z)
                h = tf.nn.relu(z) if layer < n_layers - 1 else z
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=h) * valid
            total = tf.reduce_sum(losses)
        grads_z = tape.gradient(total, pre)
        count = tf.reduce_sum(valid, axis=1)
        if private:
            grads = _private_grads(inputs, grads_z, valid, count, iterations)
        else:
            scale = 1.0 / tf.maximum(count, 1.0)
            grads = []
            for a, g in zip(inputs, grads_z):
                weighted = g * scale[:, None, None]
                grads.append(tf.linalg.matmul(a, weighted, transpose_a=True))
                grads.append(tf.reduce_sum(weighted, axis=1))
        _apply(state, grads, apply, iterations, learning_rate)
        return tf.reduce_sum(losses, axis=1) / tf.maximum(count, 1.0)

    def _private_grads(inputs, grads_z, valid, count, iterations):
        squared = tf.zeros_like(valid)
        for a, g in zip(inputs, grads_z):
            g_sq = tf.reduce_sum(tf.square(g), axis=2)
            squared += tf.reduce_sum(tf.square(a), axis=2) * g_sq + g_sq
        weights = mechanism.clip_factors(tf.sqrt(squared), l2_norm_clip) * valid
        sums = []
        for a, g in zip(inputs, grads_z):
            weighted = g * weights[:, :, None]
            sums.append(tf.linalg.matmul(a, weighted, transpose_a=True))
            sums.append(tf.reduce_sum(weighted, axis=1))
        stddev = mechanism.noise_stddev(l2_norm_clip, noise_multiplier)
        per_model = []
        for k in range(k_models):
            seed = tf.stack([noise_seeds[k], tf.cast(iterations[k], tf.int64)])
            noised = mechanism.add_noise([s[k] for s in sums], stddev=stddev, seed=seed)
            den = denominator if denominator is not None else tf.maximum(count[k], 1.0)
            per_model.append(mechanism.normalize(noised, den))
        return [tf.stack([model[i] for model in per_model]) for i in range(len(sums))]

    return step
