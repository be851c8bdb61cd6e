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
Gradient Clipping", PETS 2021). Conv2D layers are unfolded into patches (T = output
positions, D = kh*kw*C_in) built from strided slices (tf.image.extract_patches is an
order of magnitude slower on CPU), and their clipped sum is one filter-gradient
convolution of the re-weighted output gradients; embeddings use the one-hot equality
matrix in place of A_i A_i^T. A microbatch is handled as one "example" whose rows are
its examples' rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

from dpaudit.dp._recording import CONV2D, DENSE, EMBEDDING

__all__ = ["LayerTerm", "layer_term", "FallbackTerm"]

# When the cost rule cannot decide (rows per microbatch unknown while tracing), Dense
# per-microbatch gradients are materialised only up to this many floats each.
_MAX_MATERIALISED = 1 << 16


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


@dataclass
class LayerTerm:
    """One fast-path layer's per-example rows, for squared norms then clipped sums.

    A: Dense (b, T, D) inputs; Conv2D (b, D, T) patches (transposed layout); Embedding
    (b, T) ids. G: (b, T, P) gradients of the summed loss with respect to the
    pre-activations. With `num_groups` m, norms are those of the m microbatch sums.
    """

    kind: str
    layer: object
    A: tf.Tensor
    G: tf.Tensor
    rows: int | None            # static T, None if unknown
    conv_calls: list            # Conv2D: [(input, output gradient)] per call
    num_groups: int | None
    kernel_trainable: bool
    bias_trainable: bool
    _per_unit: tf.Tensor | None = None

    def _grouped(self) -> tuple[tf.Tensor, tf.Tensor]:
        A, G, m = self.A, self.G, self.num_groups
        if m is None:
            return A, G
        G = tf.reshape(G, [m, -1, G.shape[-1]])
        if self.kind == EMBEDDING:
            return tf.reshape(A, [m, -1]), G
        if self.kind == CONV2D:  # (b, D, T) -> (m, D, k*T)
            d = A.shape[1]
            A = tf.reshape(tf.transpose(tf.reshape(A, [m, -1, d, tf.shape(A)[2]]), [0, 2, 1, 3]),
                           [m, d, -1])
            return A, G
        return tf.reshape(A, [m, -1, A.shape[-1]]), G

    def _materialise(self) -> bool:
        d, p = self.A.shape[1 if self.kind == CONV2D else -1], self.G.shape[-1]
        if self.num_groups is not None:
            # Per-microbatch conv gradients cost the same as per-example ones; Gram
            # matrices of k*T rows would cost k times more.
            return self.kind == CONV2D or d * p <= _MAX_MATERIALISED
        if self.rows is None:
            return d * p <= _MAX_MATERIALISED
        return d * p <= self.rows * (d + p)

    def squared_norms(self) -> tf.Tensor:
        """(n,) squared L2 norms of each unit's gradient for this layer's variables."""
        A, G = self._grouped()
        single = self.rows == 1 and self.num_groups is None
        sq = tf.zeros(tf.shape(G)[:1], G.dtype)
        if self.kernel_trainable:
            if self.kind == EMBEDDING:
                if single:
                    sq += tf.reduce_sum(tf.square(G), axis=[1, 2])
                else:
                    same = tf.cast(tf.equal(A[:, :, None], A[:, None, :]), G.dtype)
                    sq += tf.reduce_sum(same * tf.matmul(G, G, transpose_b=True), axis=[1, 2])
            elif single:
                sq += (tf.reduce_sum(tf.square(A), axis=[1, 2])
                       * tf.reduce_sum(tf.square(G), axis=[1, 2]))
            elif self._materialise():
                self._per_unit = tf.matmul(A, G, transpose_a=self.kind != CONV2D)  # (n, D, P)
                sq += tf.reduce_sum(tf.square(self._per_unit), axis=[1, 2])
            else:
                conv = self.kind == CONV2D
                aa = tf.matmul(A, A, transpose_a=conv, transpose_b=not conv)  # (n, T, T)
                sq += tf.reduce_sum(aa * tf.matmul(G, G, transpose_b=True), axis=[1, 2])
        if self.bias_trainable:
            sq += tf.reduce_sum(tf.square(tf.reduce_sum(G, axis=1)), axis=1)
        return sq

    def clipped_sums(self, unit_weights: tf.Tensor, example_weights: tf.Tensor) -> list:
        """sum_i w_i * grad_i for [kernel, bias] (only the trainable ones)."""
        A, G, layer = self.A, self.G, self.layer
        single = self.rows == 1 and self.num_groups is None
        out = []
        if self.kernel_trainable:
            p = G.shape[-1]
            if self.kind == EMBEDDING:
                variable = layer.embeddings
                kernel = tf.math.unsorted_segment_sum(
                    tf.reshape(G * example_weights[:, None, None], [-1, p]), tf.reshape(A, [-1]),
                    layer.input_dim)
            else:
                variable = layer.kernel
                if single:
                    kernel = tf.matmul(A[:, 0, :], G[:, 0, :] * example_weights[:, None],
                                       transpose_a=True)
                elif self._per_unit is not None:
                    kernel = tf.tensordot(unit_weights, self._per_unit, axes=1)
                elif self.kind == CONV2D:
                    kernel = tf.add_n([self._filter_gradient(a, g * example_weights[:, None, None,
                                                                                    None])
                                       for a, g in self.conv_calls])
                else:
                    kernel = tf.matmul(tf.reshape(A, [-1, A.shape[-1]]),
                                       tf.reshape(G * example_weights[:, None, None], [-1, p]),
                                       transpose_a=True)
            out.append(tf.reshape(kernel, variable.shape))
        if self.bias_trainable:
            per_unit = tf.reduce_sum(self._grouped()[1], axis=1)
            out.append(tf.linalg.matvec(per_unit, unit_weights, transpose_a=True))
        return out

    def _filter_gradient(self, a: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
        layer = self.layer
        return tf.raw_ops.Conv2DBackpropFilter(
            input=a, filter_sizes=tf.constant(tuple(layer.kernel.shape), tf.int32), out_backprop=g,
            strides=[1, *layer.strides, 1], padding=layer.padding.upper(),
            dilations=[1, *layer.dilation_rate, 1])


def layer_term(kind: str, layer, calls: list, grads: list, *, num_groups: int | None,
               kernel_trainable: bool, bias_trainable: bool) -> LayerTerm:
    """Unfolds one layer's recorded calls into per-example rows."""
    As, Gs, conv_calls, rows = [], [], [], 0
    for (a, z), g in zip(calls, grads):
        if g is None:  # output unused by the loss
            g = tf.zeros_like(z)
        p = z.shape[-1]
        if kind == DENSE:
            t = _static_prod(a.shape[1:-1])
            As.append(_rows(a, t, a.shape[-1]))
        elif kind == CONV2D:
            t = _static_prod(z.shape[1:-1])
            As.append(_conv_patches(layer, a, z))
            conv_calls.append((a, g))
        else:  # EMBEDDING: ids
            t = _static_prod(a.shape[1:])
            As.append(tf.reshape(a, [-1, t]) if t is not None
                      else tf.reshape(a, [tf.shape(a)[0], -1]))
        Gs.append(_rows(g, t, p))
        rows = None if (rows is None or t is None) else rows + t
    axis = 2 if kind == CONV2D else 1
    A = As[0] if len(As) == 1 else tf.concat(As, axis=axis)
    G = Gs[0] if len(Gs) == 1 else tf.concat(Gs, axis=1)
    return LayerTerm(kind, layer, A, G, rows, conv_calls, num_groups, kernel_trainable,
                     bias_trainable)


@dataclass
class FallbackTerm:
    """Variables outside the fast path: per-unit gradients from a vectorised Jacobian."""

    per_unit: list[tf.Tensor]  # each (n, *variable.shape)

    def squared_norms(self) -> tf.Tensor:
        return tf.add_n([tf.reduce_sum(tf.reshape(tf.square(j), [tf.shape(j)[0], -1]), axis=1)
                         for j in self.per_unit])

    def clipped_sums(self, unit_weights: tf.Tensor, example_weights: tf.Tensor) -> list:
        return [tf.tensordot(unit_weights, j, axes=1) for j in self.per_unit]
