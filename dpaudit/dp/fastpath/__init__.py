"""The registry of layer kinds with a fast (book-keeping) clipping path.

Each kind is a `LayerTerm` subclass in its own module, which says which layers it takes
(`matches`), how a recorded call looks (`patched_call`) and its kernel's per-example
norm and clipped-sum terms, as Opacus keeps one grad sampler per layer type. A layer no
kind takes, or one whose variables another layer also reads (tied weights), goes to the
exact vectorised fallback (`dpaudit.dp.clipping`).

To add a kind: subclass `LayerTerm` and `register` it.
"""

from __future__ import annotations

import keras

from dpaudit.dp.fastpath.base import FallbackTerm, LayerTerm
from dpaudit.dp.fastpath.conv2d import Conv2DTerm
from dpaudit.dp.fastpath.dense import DenseTerm
from dpaudit.dp.fastpath.embedding import EmbeddingTerm

__all__ = ["LayerTerm", "FallbackTerm", "register", "term_class", "registered"]

_REGISTRY: list[type[LayerTerm]] = []


def register(kind: type[LayerTerm]) -> type[LayerTerm]:
    """Adds a layer kind to the fast path (usable as a class decorator)."""
    if not (isinstance(kind, type) and issubclass(kind, LayerTerm)):
        raise TypeError(f"a fast-path kind must subclass LayerTerm, got {kind!r}")
    if kind not in _REGISTRY:
        _REGISTRY.append(kind)
    return kind


def registered() -> tuple[type[LayerTerm], ...]:
    """The registered kinds, in lookup order."""
    return tuple(_REGISTRY)


def term_class(layer: keras.layers.Layer) -> type[LayerTerm] | None:
    """The fast-path kind of `layer`, or None if its variables need the fallback.

    Layers that change what their call computes (LoRA, quantization, rematerialisation)
    are never fast-pathed, whatever their type.
    """
    if getattr(layer, "lora_enabled", False) or getattr(layer, "_remat_mode", None):
        return None
    if getattr(layer.dtype_policy, "quantization_mode", None) is not None:
        return None
    for kind in _REGISTRY:
        if kind.matches(layer):
            return kind
    return None


for _kind in (DenseTerm, Conv2DTerm, EmbeddingTerm):
    register(_kind)
