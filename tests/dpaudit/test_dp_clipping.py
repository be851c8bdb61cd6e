"""Reference tests: fast per-example norms and clipped sums against a naive loop.

The reference computes each example's (or microbatch's mean) gradient with its own
GradientTape, one at a time: slow, obviously correct, and independent of the
book-keeping code under test.
"""

import numpy as np
import pytest

import keras
import tensorflow as tf

from dpaudit.dp import dp_gradients, per_example_gradient_norms
from dpaudit.dp.fastpath import base as _layers_base
from dpaudit.dp.fastpath import conv2d as _layers_conv2d
from dpaudit.dp._losses import per_example_loss
from dpaudit.dp.clipping import clipped_gradient_sum
from dpaudit.errors import InputError

LOSS = keras.losses.SparseCategoricalCrossentropy(reduction="none")
RTOL = 1e-4  # float32 sums of a few hundred terms


def _naive_unit_gradients(model, x, y, num_microbatches=None):
    """Flattened gradient of each example (or each microbatch's mean loss), one by one."""
    m = len(x) if num_microbatches is None else num_microbatches
    k = len(x) // m
    out = []
    for j in range(m):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(LOSS(y[j * k:(j + 1) * k],
                                       model(x[j * k:(j + 1) * k], training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        out.append([np.zeros(v.shape) if g is None else tf.convert_to_tensor(g).numpy()
                    for g, v in zip(grads, model.trainable_variables)])
    return out


def _norm(grads):
    return np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))


def _mlp():
    inputs = keras.Input((7,))
    h = keras.layers.Dense(6, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(h))


def _conv(padding, strides, dilation):
    inputs = keras.Input((9, 9, 2))
    h = keras.layers.Conv2D(3, (3, 2), strides=strides, dilation_rate=dilation,
                            padding=padding, activation="relu")(inputs)
    h = keras.layers.Conv2D(4, 2, padding=padding)(h)  # small T: the ghost-norm branch
    h = keras.layers.AveragePooling2D(2, padding="same")(h)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(
        keras.layers.Flatten()(h)))


def _sequence():
    """Embedding (repeated ids), Dense on 3-D input, and fallback layers."""
    inputs = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(6, 3)(inputs)
    h = keras.layers.Dense(4, activation="tanh")(h)
    h = keras.layers.LayerNormalization()(h)   # fallback: not a fast-path layer
    h = keras.layers.Conv1D(2, 2)(h)           # fallback
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(
        keras.layers.Flatten()(h)))


def _conv_ghost():
    """A conv layer with few output positions, where the ghost norm is the cheaper one."""
    inputs = keras.Input((6, 6, 4))
    h = keras.layers.Conv2D(3, 3, activation="relu")(inputs)
    h = keras.layers.Conv2D(8, 3)(h)  # T = 4, D = 27, P = 8: T^2 (D + P) < T D P
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(
        keras.layers.Flatten()(h)))


def _dense_ghost():
    inputs = keras.Input((2, 6))
    h = keras.layers.Dense(8, activation="tanh")(inputs)  # T = 2: ghost norm
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(
        keras.layers.Flatten()(h)))


def _embedding_single():
    inputs = keras.Input((1,), dtype="int32")
    h = keras.layers.Embedding(6, 5)(inputs)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(
        keras.layers.Flatten()(h)))


def _shared():
    """A layer called twice: its per-example gradient sums over both calls."""
    inputs = keras.Input((5,))
    dense = keras.layers.Dense(5, activation="tanh")
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(dense(dense(inputs))))


class _MyDense(keras.layers.Dense):
    """A Dense subclass: may override call, so it must take the fallback path."""


def _subclassed_layer():
    inputs = keras.Input((7,))
    return keras.Model(inputs, _MyDense(4, activation="softmax")(
        keras.layers.Dense(3, use_bias=False)(inputs)))


def _frozen_bias():
    model = _mlp()
    model.layers[1].bias.trainable = False
    return model


MODELS = {
    "dense": (_mlp, (7,)),
    "conv_valid": (lambda: _conv("valid", 1, 1), (9, 9, 2)),
    "conv_same_stride2": (lambda: _conv("same", 2, 1), (9, 9, 2)),
    "conv_valid_dilation2": (lambda: _conv("valid", 1, 2), (9, 9, 2)),
    "conv_ghost": (_conv_ghost, (6, 6, 4)),
    "dense3d_ghost": (_dense_ghost, (2, 6)),
    "embedding_single_id": (_embedding_single, ("ids", 1)),
    "embedding_dense3d_fallback": (_sequence, ("ids", 5)),
    "tied_embedding_output": (lambda: _tied_embedding(), ("ids", 5)),
    "tied_autoencoder": (lambda: _tied_autoencoder(), (7,)),
    "shared_layer": (_shared, (5,)),
    "subclassed_layer_fallback": (_subclassed_layer, (7,)),
    "frozen_bias": (_frozen_bias, (7,)),
}


class _TiedOutput(keras.layers.Layer):
    """Output projection that reads the embedding table (tied weights)."""

    def __init__(self, embedding, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding

    def call(self, h):
        return keras.ops.softmax(keras.ops.matmul(h, keras.ops.transpose(
            self.embedding.embeddings)))


class _DenseTranspose(keras.layers.Layer):
    """Decoder that reads the encoder's kernel (a tied autoencoder)."""

    def __init__(self, dense, **kwargs):
        super().__init__(**kwargs)
        self.dense = dense

    def call(self, h):
        return keras.ops.matmul(h, keras.ops.transpose(self.dense.kernel))


def _tied_embedding():
    # Issue 13 item 1: the fast path saw only the lookup's gradient of the shared table.
    inputs = keras.Input((5,), dtype="int32")
    embedding = keras.layers.Embedding(6, 4)
    h = keras.layers.GlobalAveragePooling1D()(embedding(inputs))
    h = keras.layers.Dense(4, activation="tanh")(h)
    return keras.Model(inputs, _TiedOutput(embedding)(h))


def _tied_autoencoder():
    inputs = keras.Input((7,))
    encoder = keras.layers.Dense(4, activation="tanh")
    decoded = _DenseTranspose(encoder)(encoder(inputs))
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(decoded))


def _data(shape, n=6, seed=0):
    rng = np.random.default_rng(seed)
    if shape[0] == "ids":
        x = rng.integers(0, 6, (n, shape[1])).astype("int32")
        x[:, -1] = x[:, 0]  # repeated ids inside an example
    else:
        x = rng.normal(size=(n, *shape)).astype("float32")
    return x, rng.integers(0, 4, n)


def _build(name, seed=0):
    keras.utils.set_random_seed(seed)
    builder, shape = MODELS[name]
    return builder(), *_data(shape)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fast_norms_equal_naive_loop(name):
    model, x, y = _build(name)
    fast = per_example_gradient_norms(model, LOSS, x, y)
    naive = np.array([_norm(g) for g in _naive_unit_gradients(model, x, y)])
    np.testing.assert_allclose(fast, naive, rtol=RTOL)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("num_microbatches", [None, 3])
def test_clipped_sum_equals_naive_loop(name, num_microbatches):
    model, x, y = _build(name)
    units = _naive_unit_gradients(model, x, y, num_microbatches)
    norms = np.array([_norm(g) for g in units])
    clip = float(np.median(norms))  # about half the units are clipped
    expected = [sum(min(1.0, clip / n) * g[i] for g, n in zip(units, norms))
                for i in range(len(model.trainable_variables))]
    result = clipped_gradient_sum(model, x, y, per_example_loss(LOSS), l2_norm_clip=clip,
                                  num_microbatches=num_microbatches)
    np.testing.assert_allclose(result.norms.numpy(), norms, rtol=RTOL)
    for got, want in zip(result.sums, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize("name", ["dense", "dense3d_ghost", "embedding_dense3d_fallback"])
def test_microbatch_gram_branch_equals_naive_loop(name, monkeypatch):
    # Large layers take the Gram-matrix branch for microbatches; force it on small ones.
    monkeypatch.setattr(_layers_base, "_MAX_MATERIALISED", 0)
    test_clipped_sum_equals_naive_loop(name, 3)


@pytest.mark.parametrize("depth", [0, 10**6])
@pytest.mark.parametrize("name", ["conv_valid", "conv_same_stride2", "conv_valid_dilation2"])
@pytest.mark.parametrize("num_microbatches", [None, 3])
def test_both_conv_per_example_methods_equal_naive_loop(name, depth, num_microbatches,
                                                        monkeypatch):
    # depth 0: grouped filter-gradient convolution everywhere; 10**6: patches everywhere.
    monkeypatch.setattr(_layers_conv2d, "_MAX_PATCH_DEPTH", depth)
    test_clipped_sum_equals_naive_loop(name, num_microbatches)


@pytest.mark.parametrize("depth", [0, 10**6])
def test_empty_batch_gives_zero_clipped_sum(depth, monkeypatch):
    monkeypatch.setattr(_layers_conv2d, "_MAX_PATCH_DEPTH", depth)
    model, x, y = _build("conv_ghost")
    result = clipped_gradient_sum(model, x[:0], y[:0], per_example_loss(LOSS), l2_norm_clip=1.0)
    assert result.norms.shape == (0,)
    for total, variable in zip(result.sums, model.trainable_variables):
        assert total.shape == variable.shape and not np.any(total.numpy())


@pytest.mark.parametrize("name", ["dense", "conv_same_stride2", "embedding_dense3d_fallback"])
def test_every_clipped_example_gradient_has_norm_at_most_clip(name):
    model, x, y = _build(name)
    clip = 0.5 * float(np.median(per_example_gradient_norms(model, LOSS, x, y)))
    for i in range(len(x)):
        # One example, noise 0, denominator 1: the output IS its clipped gradient.
        grads = dp_gradients(model, LOSS, x[i:i + 1], y[i:i + 1], l2_norm_clip=clip,
                             noise_multiplier=0.0, denominator=1.0)
        unclipped = _naive_unit_gradients(model, x[i:i + 1], y[i:i + 1])[0]
        norm = _norm([g.numpy() for g in grads])
        assert norm <= clip * (1 + 1e-5)
        assert norm == pytest.approx(min(clip, _norm(unclipped)), rel=1e-4)


def test_microbatches_must_divide_the_batch():
    model, x, y = _build("dense")
    with pytest.raises(InputError, match="num_microbatches=4 must divide the batch size"):
        dp_gradients(model, LOSS, x, y, l2_norm_clip=1.0, noise_multiplier=0.0,
                     num_microbatches=4)


def test_batch_normalization_is_refused():
    inputs = keras.Input((4,))
    h = keras.layers.BatchNormalization()(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, h)
    x, y = np.ones((4, 4), "float32"), np.zeros(4, "int64")
    with pytest.raises(InputError, match="BatchNormalization.*GroupNormalization"):
        per_example_gradient_norms(model, LOSS, x, y)


def test_activity_regularizer_is_refused():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(
        3, activation="softmax", activity_regularizer="l2")(inputs))
    with pytest.raises(InputError, match="activity_regularizer"):
        per_example_gradient_norms(model, LOSS, np.ones((2, 4), "float32"), np.zeros(2))


def test_scalar_loss_is_refused_with_a_hint():
    model, x, y = _build("dense")
    with pytest.raises(InputError, match="one loss per example"):
        dp_gradients(model, lambda t, p: tf.reduce_mean(LOSS(t, p)), x, y, l2_norm_clip=1.0,
                     noise_multiplier=0.0)


class _AddsLoss(keras.layers.Layer):
    def call(self, inputs):
        self.add_loss(tf.reduce_mean(inputs))  # couples the examples of a batch
        return inputs


def test_batch_dependent_add_loss_is_refused():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(_AddsLoss()(inputs)))
    with pytest.raises(InputError, match="add_loss"):
        dp_gradients(model, LOSS, np.ones((2, 4), "float32"), np.zeros(2), l2_norm_clip=1.0,
                     noise_multiplier=0.0)


_WITHOUT_ONEDNN = """
import numpy as np, keras, tensorflow as tf
from dpaudit.dp import per_example_gradient_norms
from dpaudit.dp.fastpath.conv2d import grouped_filter_gradient_available as _grouped_filter_gradient_available
from dpaudit.training.models import build_model
assert not _grouped_filter_gradient_available()
model = build_model("cnn", input_shape=(28, 28, 1), num_classes=10, seed=0)
x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
y = np.array([0, 3, 7])
loss = keras.losses.SparseCategoricalCrossentropy(reduction="none")
fast = per_example_gradient_norms(model, loss, x, y)
naive = []
for i in range(3):
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(loss(y[i:i + 1], model(x[i:i + 1], training=True)))
    grads = tape.gradient(value, model.trainable_variables)
    naive.append(np.sqrt(sum(float(tf.reduce_sum(g * g)) for g in grads)))
np.testing.assert_allclose(fast, naive, rtol=1e-4)
"""


def test_conv_clipping_works_without_onednn():
    """TensorFlow's Eigen kernels (TF_ENABLE_ONEDNN_OPTS=0, some platforms) have no
    grouped filter gradient: the conv fast path must fall back, not crash."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", _WITHOUT_ONEDNN], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
