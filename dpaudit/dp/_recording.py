"""Records, during one forward pass, what book-keeping clipping needs from each layer.

For every trainable ``Dense``, ``Conv2D`` and ``Embedding`` layer that the fast path
supports, the forward pass must expose the layer's input ``a`` and its pre-activation
output ``z`` (after the bias, before the activation) as tensors on the gradient tape:
one backward pass for dL/dz then gives every per-example gradient norm (Bu et al. 2022).
Keras layers fuse the activation into ``call``, so while the DP step traces we replace
``layer.call`` on the instance by an equivalent function that also appends ``(a, z)``
to a list, and restore the class method afterwards. Only the trace sees the patch; the
traced graph holds the same operations Keras' own ``call`` would have built.

Layers that do not qualify (subclasses, LoRA, quantized, grouped or channels-first
convolutions, rematerialised calls, ...) are left alone; their variables go to the
vectorised per-example fallback.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import keras
from keras import ops

__all__ = ["DENSE", "CONV2D", "EMBEDDING", "fast_path_kind", "recording"]

DENSE, CONV2D, EMBEDDING = "dense", "conv2d", "embedding"


def fast_path_kind(layer: keras.layers.Layer) -> str | None:
    """The fast-path kind of `layer`, or None if its variables need the fallback."""
    if getattr(layer, "lora_enabled", False) or getattr(layer, "_remat_mode", None):
        return None
    if getattr(layer.dtype_policy, "quantization_mode", None) is not None:
        return None
    kind = type(layer)
    if kind is keras.layers.Dense:
        return DENSE
    if kind is keras.layers.Embedding:
        return EMBEDDING
    if (kind is keras.layers.Conv2D and layer.data_format == "channels_last"
            and layer.groups == 1 and layer.padding in ("valid", "same")):
        return CONV2D
    return None


def _dense_call(layer: Any, sink: list) -> Callable:
    def call(inputs, training=None, **kwargs):
        z = ops.matmul(inputs, layer.kernel)
        if layer.bias is not None:
            z = ops.add(z, layer.bias)
        sink.append((inputs, z))
        return layer.activation(z) if layer.activation is not None else z
    return call


def _conv2d_call(layer: Any, sink: list) -> Callable:
    def call(inputs, training=None, **kwargs):
        z = layer.convolution_op(inputs, layer.kernel)
        if layer.use_bias:
            z = ops.add(z, ops.reshape(layer.bias, (1, 1, 1, layer.filters)))
        sink.append((inputs, z))
        return layer.activation(z) if layer.activation is not None else z
    return call


def _embedding_call(layer: Any, sink: list) -> Callable:
    def call(inputs, training=None, **kwargs):
        if inputs.dtype not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int32")
        z = ops.cast(ops.take(layer.embeddings, inputs, axis=0), layer.compute_dtype)
        sink.append((inputs, z))
        return z
    return call


_CALLS = {DENSE: _dense_call, CONV2D: _conv2d_call, EMBEDDING: _embedding_call}


@contextlib.contextmanager
def recording(layers: list[tuple[keras.layers.Layer, str]]) -> Iterator[list[list]]:
    """Within the block, each listed layer appends ``(input, pre_activation)`` per call.

    Yields one list per layer (in the given order), filled as the model runs.
    """
    sinks: list[list] = [[] for _ in layers]
    saved = []
    try:
        for (layer, kind), sink in zip(layers, sinks):
            saved.append((layer, layer.__dict__.get("call")))
            # object.__setattr__ skips Keras' attribute tracking: a function is not state.
            object.__setattr__(layer, "call", _CALLS[kind](layer, sink))
        yield sinks
    finally:
        for layer, previous in saved:
            if previous is None:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", previous)
