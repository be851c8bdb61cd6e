"""The fast-path terms of ``keras.layers.Conv2D`` (channels_last, groups 1, valid/same).

T = output positions and D = kh*kw*C_in. Materialised per-example gradients come from
one grouped filter-gradient convolution with the batch folded into the groups; the
ghost norm unfolds the input into patches built from strided slices
(tf.image.extract_patches is an order of magnitude slower on CPU); the clipped sum is
one filter-gradient convolution of the re-weighted output gradients.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import keras
import tensorflow as tf
from keras import ops

from dpaudit.dp.fastpath.base import LayerTerm, rows, static_prod

__all__ = ["Conv2DTerm", "grouped_filter_gradient_available"]

# Per-example gradients use patches up to this kh*kw*C_in, grouped convolution above.
_MAX_PATCH_DEPTH = 32


def _same_padding(size: int, out: int, kernel: int, stride: int, dilation: int):
    """TensorFlow's SAME padding (before, after) along one spatial axis."""
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _patches(layer, a: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
    """Unfolds a Conv2D input to (b, kh*kw*C, T), rows ordered like the kernel (kh, kw, c)."""
    kh, kw = layer.kernel_size
    sh, sw = layer.strides
    dh, dw = layer.dilation_rate
    (h, w, c), (ho, wo) = a.shape[1:], z.shape[1:3]
    if None in (h, w, c, ho, wo):  # dynamic spatial size: the generic (slower) op
        patches = tf.image.extract_patches(
            a, sizes=[1, kh, kw, 1], strides=[1, sh, sw, 1], rates=[1, dh, dw, 1],
            padding=layer.padding.upper())
        return tf.transpose(tf.reshape(patches, [tf.shape(a)[0], -1, kh * kw * a.shape[-1]]),
                            [0, 2, 1])
    if layer.padding == "same":
        a = tf.pad(a, [[0, 0], _same_padding(h, ho, kh, sh, dh),
                       _same_padding(w, wo, kw, sw, dw), [0, 0]])
    channels_first = tf.transpose(a, [0, 3, 1, 2])  # slices then copy contiguous rows
    slices = [tf.reshape(channels_first[:, :, i * dh:i * dh + (ho - 1) * sh + 1:sh,
                                        j * dw:j * dw + (wo - 1) * sw + 1:sw], [-1, c, ho * wo])
              for i in range(kh) for j in range(kw)]
    return tf.reshape(tf.stack(slices, axis=1), [-1, kh * kw * c, ho * wo])


def _filter_gradient(layer, a: tf.Tensor, g: tf.Tensor, filters: Any) -> tf.Tensor:
    return tf.raw_ops.Conv2DBackpropFilter(
        input=a, filter_sizes=filters, out_backprop=g, strides=[1, *layer.strides, 1],
        padding=layer.padding.upper(), dilations=[1, *layer.dilation_rate, 1])


def _per_example(layer, a: tf.Tensor, z: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
    """(b, kh*kw*C, P) per-example kernel gradients.

    Few input channels (e.g. the first layer of an image model): patches times output
    gradients, one batched matmul. Otherwise ONE grouped filter-gradient convolution
    with the batch folded into the channels, so the b examples become b groups
    (Rochette et al., "Efficient Per-Example Gradient Computations in Convolutional
    Neural Networks", 2019), which avoids copying kh*kw patches of a wide input.
    Measured on CPU for the short conv net: patches win at C=1, groups at C=10.
    """
    kh, kw = layer.kernel_size
    c, p = a.shape[-1], g.shape[-1]
    if kh * kw * c <= _MAX_PATCH_DEPTH or not grouped_filter_gradient_available():
        return tf.matmul(_patches(layer, a, z), rows(g, static_prod(g.shape[1:-1]), p))
    b = tf.shape(a)[0]
    inputs = tf.reshape(tf.transpose(a, [1, 2, 0, 3]), [1, a.shape[1], a.shape[2], -1])
    grads = tf.reshape(tf.transpose(g, [1, 2, 0, 3]), [1, g.shape[1], g.shape[2], -1])
    kernel = _filter_gradient(layer, inputs, grads, tf.stack([kh, kw, c, b * p]))
    return tf.transpose(tf.reshape(kernel, [kh * kw * c, b, p]), [1, 0, 2])


@functools.cache
def grouped_filter_gradient_available() -> bool:
    """Whether this TensorFlow build computes grouped Conv2DBackpropFilter on its device.

    oneDNN's CPU kernel does (the default on x86 Linux); TensorFlow's Eigen kernel, used
    when TF_ENABLE_ONEDNN_OPTS=0 and on some platforms, rejects grouped filters. One
    tiny eager call decides, once per process; the patches path works everywhere.
    """
    with tf.init_scope():
        try:
            tf.raw_ops.Conv2DBackpropFilter(
                input=tf.zeros([1, 3, 3, 2]), filter_sizes=[2, 2, 1, 2],
                out_backprop=tf.zeros([1, 2, 2, 2]), strides=[1, 1, 1, 1], padding="VALID")
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            return False
    return True


class Conv2DTerm(LayerTerm):
    """Conv2D: A = input patches (b, D, T), kernel gradient A_i G_i."""

    kind = "conv2d"

    @staticmethod
    def matches(layer: keras.layers.Layer) -> bool:
        return (type(layer) is keras.layers.Conv2D and layer.data_format == "channels_last"
                and layer.groups == 1 and layer.padding in ("valid", "same"))

    @staticmethod
    def patched_call(layer: Any, sink: list) -> Callable:
        def call(inputs, training=None, **kwargs):
            z = layer.convolution_op(inputs, layer.kernel)
            if layer.use_bias:
                z = ops.add(z, ops.reshape(layer.bias, (1, 1, 1, layer.filters)))
            sink.append((inputs, z))
            return layer.activation(z) if layer.activation is not None else z
        return call

    def _inputs(self) -> tf.Tensor:
        parts = [_patches(self.layer, a, z) for (a, z), _ in self.calls]
        return parts[0] if len(parts) == 1 else tf.concat(parts, axis=2)

    def _materialise(self) -> bool:
        # Per-microbatch conv gradients cost the same as per-example ones; Gram
        # matrices of k*T rows would cost k times more.
        return self.num_groups is not None or super()._materialise()

    def _kernel_squared_norms(self, G: tf.Tensor) -> tf.Tensor:
        if self._materialise():
            per_example = tf.add_n([_per_example(self.layer, a, z, g)
                                    for (a, z), g in self.calls])
            self._per_unit = (per_example if self.num_groups is None else
                              tf.reduce_sum(self._group(per_example[:, None]), axis=1))
            return tf.reduce_sum(tf.square(self._per_unit), axis=[1, 2])
        A = self._inputs()  # ghost norm; conv layers are never grouped here
        aa = tf.matmul(A, A, transpose_a=True)  # (b, T, T)
        return tf.reduce_sum(aa * tf.matmul(G, G, transpose_b=True), axis=[1, 2])

    def _kernel_sum(self, unit_weights: tf.Tensor, example_weights: tf.Tensor) -> tf.Tensor:
        filters = tf.constant(tuple(self.layer.kernel.shape), tf.int32)
        return tf.add_n([_filter_gradient(self.layer, self._clean(a),
                                          self._clean(g) * example_weights[:, None, None, None],
                                          filters)
                         for (a, _), g in self.calls])
