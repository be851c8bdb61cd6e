"""The compiled training loop of `dpaudit.training.stacked`: K dense networks at once.

Weights carry a leading model axis (kernel ``(K, d_in, d_out)``, bias ``(K, d_out)``);
one tf.function runs a chunk of precomputed steps in a while_loop, and each step takes
every model's forward and backward pass on its own batch (no padding) with per-model
matrix products. With ``z`` a layer's pre-activations, the backward pass yields every
example's own ``dL_i/dz`` (no example's loss depends on another's), and for a Dense
layer with input ``a_i`` the per-example gradient is the outer product ``a_i g_i^T``
(kernel) and ``g_i`` (bias), with squared norm ``||a_i||^2 ||g_i||^2 + ||g_i||^2``
(Goodfellow, "Efficient Per-Example Gradient Computations", 2015, arXiv:1510.01799).
DP-SGD (Abadi et al., CCS 2016) then clips, sums, noises and normalises each model's
gradients through `dpaudit.dp.mechanism`, called per model, so planted-bug tests that
swap those functions reach the stack too.

The optimizers repeat Keras 3's update rules (SGD without momentum, Adam, Adagrad)
with per-model step counters, and leave a model untouched on a step it does not take
(a finished model, or an empty Poisson batch of the plain arm, which Keras skips).
"""

from __future__ import annotations

import tensorflow as tf

from dpaudit.dp import mechanism

__all__ = ["StackState", "make_train"]

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


def _model_grads(inputs: list, grads_z: list, weights) -> list:
    """One model's kernel and bias gradients, a^T (g w) and sum(g w), per layer."""
    out = []
    for a, g in zip(inputs, grads_z):
        weighted = g * weights
        out.append(tf.linalg.matmul(a, weighted, transpose_a=True))
        out.append(tf.reduce_sum(weighted, axis=0))
    return out


def make_train(state: StackState, x: tf.Tensor, y: tf.Tensor, *, learning_rate: float,
               private: bool, l2_norm_clip: float, noise_multiplier: float,
               denominator: float | None, noise_seeds: tf.Tensor):
    """The compiled loop ``run(idx, sizes, apply, iterations, start, stop)`` of K models.

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
      A tf.function running steps start .. stop - 1 of a precomputed schedule: idx
      (T, K, B_max) int32 pool rows, of which the first sizes[t, k] are model k's batch
      at step t; apply (T, K) float32 (1 = the model takes step t) and iterations
      (T, K) int64 (each model's optimizer step count before step t).
    """
    n_layers = len(state.params) // 2
    k_models = int(state.params[0].shape[0])

    def model_grads(params, rows, noise_seed, iteration):
        # Model k alone on its own batch (no padding): per-model matrix products run
        # faster than batched ones on CPU. The backward pass is written out with the
        # ops the tape would use (the loss's own backprop, ReluGrad).
        h = tf.gather(x, rows)
        inputs, pre = [], []
        for layer in range(n_layers):
            z = tf.linalg.matmul(h, params[2 * layer]) + params[2 * layer + 1]
            inputs.append(h)
            pre.append(z)
            h = tf.nn.relu(z) if layer < n_layers - 1 else z
        _, g = tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(features=h,
                                                               labels=tf.gather(y, rows))
        grads_z = [g]
        for layer in range(n_layers - 1, 0, -1):
            g = tf.linalg.matmul(g, params[2 * layer], transpose_b=True)
            g = tf.raw_ops.ReluGrad(gradients=g, features=inputs[layer])
            grads_z.insert(0, g)
        count = tf.cast(tf.shape(rows)[0], tf.float32)
        if not private:
            return _model_grads(inputs, grads_z, 1.0 / tf.maximum(count, 1.0))
        squared = tf.zeros_like(rows, tf.float32)
        for a, g in zip(inputs, grads_z):
            g_sq = tf.reduce_sum(tf.square(g), axis=1)
            squared += tf.reduce_sum(tf.square(a), axis=1) * g_sq + g_sq
        weights = mechanism.clip_factors(tf.sqrt(squared), l2_norm_clip)
        sums = _model_grads(inputs, grads_z, weights[:, None])
        stddev = mechanism.noise_stddev(l2_norm_clip, noise_multiplier)
        seed = tf.stack([noise_seed, iteration])
        noised = mechanism.add_noise(sums, stddev=stddev, seed=seed)
        return mechanism.normalize(noised, denominator if denominator is not None
                                   else tf.maximum(count, 1.0))

    # No autograph: the loop is an explicit while_loop, and converting the per-model
    # code would only slow the (already long) tracing of K unrolled models.
    @tf.function(autograph=False)
    def run(idx, sizes, apply, iterations, start, stop):
        def step(t):
            # Whole-tensor unstacks rather than K * layers slices: far faster to trace.
            params = zip(*[tf.unstack(p) for p in state.params])
            rows = zip(tf.unstack(tf.gather(idx, t)), tf.unstack(tf.gather(sizes, t)))
            counts = tf.gather(iterations, t)
            per_model = [model_grads(list(mine), tf.slice(r, [0], tf.reshape(n, [1])), seed, i)
                         for mine, (r, n), seed, i in zip(params, rows, noise_seeds_k,
                                                          tf.unstack(counts))]
            grads = [tf.stack([model[i] for model in per_model])
                     for i in range(len(state.params))]
            _apply(state, grads, tf.gather(apply, t), counts, learning_rate)
            return t + 1

        noise_seeds_k = tf.unstack(noise_seeds)
        # One step at a time: each reads the variables the previous one updated.
        tf.while_loop(lambda t: t < stop, step, [start], parallel_iterations=1)

    return run
