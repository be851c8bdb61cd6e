"""Records, during one forward pass, what book-keeping clipping needs from each layer.

For every fast-path layer (`dpaudit.dp.fastpath`), the forward pass must expose the
layer's input ``a`` and its pre-activation output ``z`` (after the bias, before the
activation) as tensors on the gradient tape: one backward pass for dL/dz then gives
every per-example gradient norm (Bu et al. 2022). Keras layers fuse the activation into
``call``, so while the DP step traces we replace ``layer.call`` on the instance by the
kind's equivalent function that also appends ``(a, z)`` to a list, and restore the
class method afterwards. Only the trace sees the patch; the traced graph holds the same
operations Keras' own ``call`` would have built.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import keras

from dpaudit.dp.fastpath import LayerTerm

__all__ = ["recording"]


@contextlib.contextmanager
def recording(layers: list[tuple[keras.layers.Layer, type[LayerTerm]]]) -> Iterator[list[list]]:
    """Within the block, each listed layer appends ``(input, pre_activation)`` per call.

    Yields one list per layer (in the given order), filled as the model runs.
    """
    sinks: list[list] = [[] for _ in layers]
    saved = []
    try:
        for (layer, kind), sink in zip(layers, sinks):
            saved.append((layer, layer.__dict__.get("call")))
            # object.__setattr__ skips Keras' attribute tracking: a function is not state.
            object.__setattr__(layer, "call", kind.patched_call(layer, sink))
        yield sinks
    finally:
        for layer, previous in saved:
            if previous is None:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", previous)
