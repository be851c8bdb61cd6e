"""Per-example gradient norms and clipped gradient sums without a second backward pass.

Book-keeping clipping (Bu et al., "Differentially Private Optimization on Large Model
at Small Cost", ICML 2023, https://arxiv.org/abs/2210.00038) for layers whose weight
gradient is a sum of outer products. For example i, a layer with unfolded input rows
A_i (T x D) and output-gradient rows G_i = dL_i/dZ_i (T x P) has weight gradient
A_i^T G_i. Its squared norm is either

* ``||A_i^T G_i||_F^2`` from the materialised (D x P) per-example gradient, or
* ``sum_{t,t'} (A_i A_i^T)_{tt'} (G_i G_i^T)_{tt'}``, the ghost norm of Goodfellow 2015
  and Li et al., "Large Language Models Can Be Strong Differentially Private
  Learners", ICLR 2022 (https://arxiv.org/abs/2110.05679), which costs T^2 (D + P);

we take the cheaper one per layer. With T = 1 (Dense on 2-D inputs) both reduce to
``||a_i||^2 ||g_i||^2`` (Goodfellow 2015). The clipped sum is then ``A^T diag(w) G``
(Lee & Kifer, "Scaling up Differentially Private Deep Learning with Fast Per-Example
Gradient Clipping", PETS 2021). For Conv2D, T = output positions and D = kh*kw*C_in:
materialised per-example gradients come from one grouped filter-gradient convolution
with the batch folded into the groups; the ghost norm unfolds the input into patches
built from strided slices (tf.image.extract_patches is an order of magnitude slower on
CPU); the clipped sum is one filter-gradient convolution of the re-weighted output
gradients. Embeddings use the one-hot equality matrix in place of A_i A_i^T. A
microbatch is handled as one "example" whose rows are its examples' rows.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from dpaudit.dp._recording import CONV2D, DENSE, EMBEDDING

__all__ = ["LayerTerm", "layer_term", "FallbackTerm"]

# When the cost rule cannot decide (rows per microbatch unknown while tracing), Dense
# per-microbatch gradients are materialised only up to this many floats each.
_MAX_MATERIALISED = 1 << 16
# Conv2D per-example gradients use patches up to this kh*kw*C_in, grouped convolution above.
_MAX_PATCH_DEPTH = 32


def _static_prod(dims) -> int | None:
    if any(d is None for d in dims):
        return None
    return math.prod(dims)


def _rows(x: tf.Tensor, rows: int | None, width: int) -> tf.Tensor:
    """Reshapes (b, ..., width) to (b, rows, width)."""
    if rows is not None:
        return tf.reshape(x, [-1, rows, width])
    return tf.reshape(x, [tf.shape(x)[0], -1, width])


def _same_padding(size: int, out: int, kernel: int, stride: int, dilation: int):
    """TensorFlow's SAME padding (before, after) along one spatial axis."""
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _conv_patches(layer, a: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
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


def _conv_filter_gradient(layer, a: tf.Tensor, g: tf.Tensor, filters: Any) -> tf.Tensor:
    return tf.raw_ops.Conv2DBackpropFilter(
        input=a, filter_sizes=filters, out_backprop=g, strides=[1, *layer.strides, 1],
        padding=layer.padding.upper(), dilations=[1, *layer.dilation_rate, 1])


def _conv_per_example(layer, a: tf.Tensor, z: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
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
    if kh * kw * c <= _MAX_PATCH_DEPTH or not _grouped_filter_gradient_available():
        return tf.matmul(_conv_patches(layer, a, z), _rows(g, _static_prod(g.shape[1:-1]), p))
    b = tf.shape(a)[0]
    inputs = tf.reshape(tf.transpose(a, [1, 2, 0, 3]), [1, a.shape[1], a.shape[2], -1])
    grads = tf.reshape(tf.transpose(g, [1, 2, 0, 3]), [1, g.shape[1], g.shape[2], -1])
    kernel = _conv_filter_gradient(layer, inputs, grads, tf.stack([kh, kw, c, b * p]))
    return tf.transpose(tf.reshape(kernel, [kh * kw * c, b, p]), [1, 0, 2])


@functools.cache
def _grouped_filter_gradient_available() -> bool:
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


@dataclass
class LayerTerm:
    """One fast-path layer's recorded calls, for squared norms then clipped sums.

    calls: [(input, gradient of the summed loss with respect to the pre-activation)].
    G: (b, T, P) those gradients as rows. With `num_groups` m, the norms are those of
    the m microbatch sums of per-example gradients.
    """

    kind: str
    layer: Any
    calls: list
    G: tf.Tensor
    rows: int | None            # static T, None if unknown
    num_groups: int | None
    kernel_trainable: bool
    bias_trainable: bool
    _per_unit: tf.Tensor | None = None

    @property
    def _single(self) -> bool:
        return self.rows == 1 and self.num_groups is None

    def _group(self, x: tf.Tensor) -> tf.Tensor:
        """(b, T, ...) -> (m, k*T, ...): a microbatch's rows are its examples' rows."""
        if self.num_groups is None:
            return x
        return tf.reshape(x, [self.num_groups, -1, *x.shape[2:]])

    def _A(self) -> tf.Tensor:
        """Input rows: Dense (b, T, D); Conv2D patches (b, D, T); Embedding ids (b, T)."""
        parts = []
        for (a, z), _ in self.calls:
            if self.kind == CONV2D:
                parts.append(_conv_patches(self.layer, a, z))
            elif self.kind == DENSE:
                parts.append(_rows(a, _static_prod(a.shape[1:-1]), a.shape[-1]))
            else:
                t = _static_prod(a.shape[1:])
                parts.append(tf.reshape(a, [-1, t]) if t is not None
                             else tf.reshape(a, [tf.shape(a)[0], -1]))
        return parts[0] if len(parts) == 1 else tf.concat(
            parts, axis=2 if self.kind == CONV2D else 1)

    def _materialise(self) -> bool:
        d = math.prod(self.layer.kernel.shape[:-1])
        p = self.G.shape[-1]
        if self.num_groups is not None:
            # Per-microbatch conv gradients cost the same as per-example ones; Gram
            # matrices of k*T rows would cost k times more.
            return self.kind == CONV2D or d * p <= _MAX_MATERIALISED
        if self.rows is None:
            return d * p <= _MAX_MATERIALISED
        return d * p <= self.rows * (d + p)

    def squared_norms(self) -> tf.Tensor:
        """(n,) squared L2 norms of each unit's gradient for this layer's variables."""
        G = self._group(self.G)
        sq = tf.zeros(tf.shape(G)[:1], G.dtype)
        if self.kernel_trainable:
            if self.kind == EMBEDDING:
                if self._single:
                    sq += tf.reduce_sum(tf.square(G), axis=[1, 2])
                else:
                    ids = self._group(self._A())
                    same = tf.cast(tf.equal(ids[:, :, None], ids[:, None, :]), G.dtype)
                    sq += tf.reduce_sum(same * tf.matmul(G, G, transpose_b=True), axis=[1, 2])
            elif self._single:
                A = self._A()
                sq += (tf.reduce_sum(tf.square(A), axis=[1, 2])
                       * tf.reduce_sum(tf.square(G), axis=[1, 2]))
            elif self._materialise():
                if self.kind == CONV2D:
                    per_example = tf.add_n([_conv_per_example(self.layer, a, z, g)
                                            for (a, z), g in self.calls])
                    self._per_unit = (per_example if self.num_groups is None else
                                      tf.reduce_sum(self._group(per_example[:, None]), axis=1))
                else:
                    self._per_unit = tf.matmul(self._group(self._A()), G, transpose_a=True)
                sq += tf.reduce_sum(tf.square(self._per_unit), axis=[1, 2])
            elif self.kind == CONV2D:  # ghost norm; conv layers are never grouped here
                A = self._A()
                aa = tf.matmul(A, A, transpose_a=True)  # (b, T, T)
                sq += tf.reduce_sum(aa * tf.matmul(G, G, transpose_b=True), axis=[1, 2])
            else:
                A = self._group(self._A())
                aa = tf.matmul(A, A, transpose_b=True)
                sq += tf.reduce_sum(aa * tf.matmul(G, G, transpose_b=True), axis=[1, 2])
        if self.bias_trainable:
            sq += tf.reduce_sum(tf.square(tf.reduce_sum(G, axis=1)), axis=1)
        return sq

    def clipped_sums(self, unit_weights: tf.Tensor, example_weights: tf.Tensor) -> list:
        """sum_i w_i * grad_i for [kernel, bias] (only the trainable ones)."""
        G, layer = self.G, self.layer
        out = []
        if self.kernel_trainable:
            p = G.shape[-1]
            if self.kind == EMBEDDING:
                variable = layer.embeddings
                kernel = tf.math.unsorted_segment_sum(
                    tf.reshape(G * example_weights[:, None, None], [-1, p]),
                    tf.reshape(self._A(), [-1]), layer.input_dim)
            else:
                variable = layer.kernel
                if self._per_unit is not None:
                    kernel = tf.tensordot(unit_weights, self._per_unit, axes=1)
                elif self.kind == CONV2D:
                    filters = tf.constant(tuple(variable.shape), tf.int32)
                    kernel = tf.add_n([
                        _conv_filter_gradient(layer, a, g * example_weights[:, None, None, None],
                                              filters)
                        for (a, _), g in self.calls])
                elif self._single:
                    kernel = tf.matmul(self._A()[:, 0, :], G[:, 0, :] * example_weights[:, None],
                                       transpose_a=True)
                else:
                    A = self._A()
                    kernel = tf.matmul(tf.reshape(A, [-1, A.shape[-1]]),
                                       tf.reshape(G * example_weights[:, None, None], [-1, p]),
                                       transpose_a=True)
            out.append(tf.reshape(kernel, variable.shape))
        if self.bias_trainable:
            per_unit = tf.reduce_sum(self._group(G), axis=1)
            out.append(tf.linalg.matvec(per_unit, unit_weights, transpose_a=True))
        return out


def layer_term(kind: str, layer, calls: list, grads: list, *, num_groups: int | None,
               kernel_trainable: bool, bias_trainable: bool) -> LayerTerm:
    """Collects one layer's recorded calls and their output gradients."""
    pairs, Gs, rows = [], [], 0
    for (a, z), g in zip(calls, grads):
        if g is None:  # output unused by the loss
            g = tf.zeros_like(z)
        t = _static_prod((a.shape[1:] if kind == EMBEDDING else z.shape[1:-1]))
        pairs.append(((a, z), g))
        Gs.append(_rows(g, t, z.shape[-1]))
        rows = None if (rows is None or t is None) else rows + t
    G = Gs[0] if len(Gs) == 1 else tf.concat(Gs, axis=1)
    return LayerTerm(kind, layer, pairs, G, rows, num_groups, kernel_trainable, bias_trainable)


@dataclass
class FallbackTerm:
    """Variables outside the fast path: per-unit gradients from a vectorised Jacobian."""

    per_unit: list[tf.Tensor]  # each (n, *variable.shape)

    def squared_norms(self) -> tf.Tensor:
        return tf.add_n([tf.reduce_sum(tf.reshape(tf.square(j), [tf.shape(j)[0], -1]), axis=1)
                         for j in self.per_unit])

    def clipped_sums(self, unit_weights: tf.Tensor, example_weights: tf.Tensor) -> list:
        return [tf.tensordot(unit_weights, j, axes=1) for j in self.per_unit]
