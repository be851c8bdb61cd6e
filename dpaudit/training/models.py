"""Model zoo: the architectures an audit can train by name.

* ``logreg`` - multinomial logistic regression (one softmax Dense layer).
* ``mlp`` - fully connected ReLU network, ``hidden=(256, 256)`` by default.
* ``cnn`` - the short conv net of the Syft-Keras MNIST tutorial (Conv2D 10/32/64
  3x3, each followed by AveragePooling2D 2x2 and ReLU, then Flatten and a softmax
  Dense layer). Flat inputs whose length is a perfect square (digits: 64) are
  reshaped to one-channel images, and images smaller than the net needs are
  resized (bilinearly) up to 28x28, the MNIST size the net was written for.

Every model outputs class probabilities (softmax), as in the tutorial, and is a
functional `keras.Model` so `dpaudit.dp.make_private` can wrap its layers. Initial
weights depend only on ``seed``: every kernel initializer gets its own seed derived
from it, so two calls with the same arguments build identical models without
touching Keras' global random state.

Example:
    >>> model = build_model("mlp", input_shape=(64,), num_classes=10, seed=0)
    >>> model.output_shape
    (None, 10)
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from dpaudit.errors import InputError

__all__ = ["MODEL_NAMES", "CNN_IMAGE_SIZE", "build_model", "cnn_min_image_size",
           "dense_initial_weights"]

MODEL_NAMES = ("logreg", "mlp", "cnn")
# The tutorial trains on 28x28 MNIST; smaller images are resized up to this.
CNN_IMAGE_SIZE = 28
_CNN_FILTERS = (10, 32, 64)


def build_model(name: str, *, input_shape: Sequence[int], num_classes: int, seed: int,
                **options: Any):
    """Builds an uncompiled Keras model with deterministic initial weights.

    Args:
      name: "logreg", "mlp" or "cnn".
      input_shape: shape of one example, without the batch axis, e.g. (64,) or (28, 28, 1).
      num_classes: number of classes (>= 2); the model outputs that many probabilities.
      seed: seed of the initial weights.
      **options: per-model options. mlp: ``hidden`` (sequence of layer widths,
        default (256, 256)), ``activation`` (default "relu"). cnn: ``image_shape``
        (how to reshape flat inputs, e.g. (8, 8, 1); inferred for perfect squares).

    Returns:
      A functional `keras.Model` mapping inputs to softmax probabilities.

    Raises:
      InputError: unknown model name or option, or an input shape the model cannot take.
    """
    builder = _BUILDERS.get(name)
    if builder is None:
        raise InputError(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")
    input_shape = tuple(int(d) for d in input_shape)
    if not input_shape or any(d <= 0 for d in input_shape):
        raise InputError(f"model {name!r}: input_shape must be positive dimensions, "
                         f"got {input_shape}")
    if int(num_classes) < 2:
        raise InputError(f"model {name!r}: num_classes must be >= 2, got {num_classes}")
    allowed = _OPTIONS[name]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(f"model {name!r}: unknown option(s) {', '.join(unknown)}; "
                         f"expected {', '.join(allowed) or 'none'}")
    return builder(input_shape, int(num_classes), int(seed), **options)


def dense_initial_weights(name: str, *, input_shape: Sequence[int], num_classes: int,
                          seed: int, hidden: Sequence[int] = (256, 256)) -> list:
    """``build_model(name, ...).get_weights()`` for logreg and mlp, without building a model.

    The same initializers with the same seeds, in the same order (kernel, bias per Dense
    layer), so the arrays are identical (tested); building a Keras model costs far more
    when a stack needs many models' initial weights.
    """
    if name not in ("logreg", "mlp"):
        raise InputError(f"dense_initial_weights: model {name!r} is not a stack of Dense layers")
    import numpy as np

    widths = [math.prod(int(d) for d in input_shape),
              *(_check_hidden(hidden) if name == "mlp" else ()), int(num_classes)]
    seeds = _Seeds(int(seed))
    weights = []
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        kernel = seeds.glorot()((d_in, d_out), dtype="float32")
        weights += [np.asarray(kernel, dtype=np.float32), np.zeros(d_out, np.float32)]
    return weights


def cnn_min_image_size() -> int:
    """Smallest square image the short conv net accepts without resizing (22)."""
    size = 1
    for _ in _CNN_FILTERS:  # invert `n -> floor((n - 2) / 2)` (3x3 valid conv, 2x2 pool)
        size = 2 * size + 2
    return size


class _Seeds:
    """Hands out a distinct, reproducible seed per initializer."""

    def __init__(self, seed: int):
        self._seed = seed
        self._count = 0

    def glorot(self):
        import keras

        self._count += 1
        # Spread the seeds so build_model(seed=s) and build_model(seed=s+1) share none.
        return keras.initializers.GlorotUniform(seed=(self._seed * 1009 + self._count) % 2**31)


def _logreg(input_shape: tuple[int, ...], num_classes: int, seed: int):
    import keras

    seeds = _Seeds(seed)
    inputs = keras.Input(shape=input_shape, name="features")
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    outputs = keras.layers.Dense(num_classes, activation="softmax",
                                 kernel_initializer=seeds.glorot(), name="probabilities")(x)
    return keras.Model(inputs, outputs, name="logreg")


def _mlp(input_shape: tuple[int, ...], num_classes: int, seed: int, *,
         hidden: Sequence[int] = (256, 256), activation: str = "relu"):
    import keras

    hidden = _check_hidden(hidden)
    if activation not in ("relu", "tanh", "sigmoid", "elu", "gelu"):
        raise InputError(f"model 'mlp': activation must be one of relu, tanh, sigmoid, elu, "
                         f"gelu, got {activation!r}")
    seeds = _Seeds(seed)
    inputs = keras.Input(shape=input_shape, name="features")
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    for i, width in enumerate(hidden):
        x = keras.layers.Dense(width, activation=activation, kernel_initializer=seeds.glorot(),
                               name=f"dense_{i}")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax",
                                 kernel_initializer=seeds.glorot(), name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mlp")


def _cnn(input_shape: tuple[int, ...], num_classes: int, seed: int, *,
         image_shape: Sequence[int] | None = None):
    import keras

    seeds = _Seeds(seed)
    inputs = keras.Input(shape=input_shape, name="features")
    x = inputs
    shape = _image_shape(input_shape, image_shape)
    if shape != input_shape:
        x = keras.layers.Reshape(shape, name="to_image")(x)
    height, width = shape[0], shape[1]
    if min(height, width) < cnn_min_image_size():
        # Upsizing keeps the tutorial's layers unchanged; 28x28 is what they were tuned on.
        x = keras.layers.Resizing(max(height, CNN_IMAGE_SIZE), max(width, CNN_IMAGE_SIZE),
                                  interpolation="bilinear", name="resize")(x)
    for filters in _CNN_FILTERS:
        x = keras.layers.Conv2D(filters, (3, 3), kernel_initializer=seeds.glorot())(x)
        x = keras.layers.AveragePooling2D((2, 2))(x)
        x = keras.layers.Activation("relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax",
                                 kernel_initializer=seeds.glorot(), name="probabilities")(x)
    return keras.Model(inputs, outputs, name="short_conv_net")


def _image_shape(input_shape: tuple[int, ...],
                 image_shape: Sequence[int] | None) -> tuple[int, int, int]:
    """The (height, width, channels) the conv net sees for inputs of `input_shape`."""
    n_features = math.prod(input_shape)
    if image_shape is not None:
        shape = tuple(int(d) for d in image_shape)
        if len(shape) == 2:
            shape = shape + (1,)
        if len(shape) != 3 or math.prod(shape) != n_features:
            raise InputError(f"model 'cnn': image_shape {tuple(image_shape)} does not hold the "
                             f"{n_features} features of input shape {input_shape}")
        return shape  # type: ignore[return-value]
    if len(input_shape) == 3:
        return input_shape  # type: ignore[return-value]
    if len(input_shape) == 2:
        return input_shape + (1,)  # type: ignore[return-value]
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise InputError(f"model 'cnn' needs images; input shape {input_shape} is not square "
                         "(give model option image_shape, e.g. [8, 8, 1])")
    return (side, side, 1)


def _check_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    if isinstance(hidden, (int, str)):
        hidden = [hidden]  # type: ignore[list-item]
    try:
        widths = tuple(int(w) for w in hidden)
        ok = all(int(w) == w for w in hidden)
    except (TypeError, ValueError):
        ok, widths = False, ()
    if not ok or any(w <= 0 for w in widths):
        raise InputError(f"model 'mlp': hidden must be a list of positive layer widths, "
                         f"got {hidden!r}")
    return widths


_BUILDERS: dict[str, Callable[..., Any]] = {"logreg": _logreg, "mlp": _mlp, "cnn": _cnn}
_OPTIONS: dict[str, tuple[str, ...]] = {"logreg": (), "mlp": ("hidden", "activation"),
                                        "cnn": ("image_shape",)}
