"""Keras models whose train step is DP-SGD: `DPModel`, `DPSequential`, `make_private`.

Keras 3 optimizers never see per-example gradients, so the DP work happens here: the
train step clips each example's gradient, adds Gaussian noise to the sum, divides by
the batch size and applies the result with the model's DP optimizer
(`dpaudit.dp.optimizers`). The user's recipe from TensorFlow Privacy carries over:

    model = make_private(model)             # or DPSequential([...]) / DPModel(inputs, outputs)
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.1,
                                                learning_rate=0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(reduction="none"))
    model.fit(x, y, batch_size=256, epochs=10)   # or fit_private(...) for Poisson sampling

The loss may also be a normal Keras loss (any reduction), a loss name or a function:
per-example losses are computed from it. A DP model compiled with a plain (non-DP)
optimizer refuses to fit: that is almost surely a mistake, and a silent non-private
run is the failure this library exists to prevent. For a non-private baseline fit a
plain `keras.Model` (e.g. ``keras.models.clone_model`` + ``set_weights``).

Under plain ``model.fit`` the noised sum is divided by the actual batch size (or by
``num_microbatches``), as in TensorFlow Privacy; `fit_private` with Poisson sampling
divides by the expected batch size instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from dpaudit.dp._losses import per_example_loss
from dpaudit.dp.gradients import private_gradients
from dpaudit.dp.optimizers import apply_private, is_dp_optimizer
from dpaudit.errors import InputError

__all__ = ["DPModel", "DPSequential", "make_private", "is_private_model"]


@dataclass(frozen=True)
class _Runtime:
    """How `fit_private` wants the step run (read when the step is traced)."""

    denominator: float | None = None   # None: the actual batch size / num_microbatches
    per_example: bool = False          # True: ignore num_microbatches (== batch size)


class _DPTrainStep:
    """Replaces Keras' train step with a DP-SGD step."""

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        opt = self.optimizer
        if not is_dp_optimizer(opt):
            raise InputError(
                f"{type(self).__name__} {self.name!r} was compiled with optimizer "
                f"{type(opt).__name__}, which is not differentially private, so fit would "
                "train without privacy; compile it with DPKerasSGDOptimizer, "
                "DPKerasAdamOptimizer or DPKerasAdagradOptimizer, or fit a plain keras.Model "
                "for a non-private baseline")
        loss_fn = per_example_loss(self.loss, where=f"{type(self).__name__}.compile(loss=...)")
        runtime = getattr(self, "_dp_runtime", None) or _Runtime()
        # Stateless noise, reproducible from (noise_seed, step): same seed, same weights.
        seed = tf.stack([tf.constant(opt.noise_seed, tf.int64),
                         tf.cast(opt.iterations, tf.int64)])
        result = private_gradients(
            self, x, y, loss_fn, l2_norm_clip=opt.l2_norm_clip,
            noise_multiplier=opt.noise_multiplier,
            num_microbatches=None if runtime.per_example else opt.num_microbatches,
            denominator=runtime.denominator, seed=seed, sample_weight=sample_weight)
        apply_private(opt, result.gradients, self.trainable_variables)

        n = tf.shape(result.losses)[0]
        loss = tf.math.divide_no_nan(tf.reduce_sum(result.losses),
                                     tf.cast(n, result.losses.dtype))
        if self.losses:
            loss += tf.add_n(self.losses)
        self._loss_tracker.update_state(loss, sample_weight=n)
        return self.compute_metrics(x, y, result.y_pred, sample_weight=sample_weight)


@keras.saving.register_keras_serializable(package="dpaudit")
class DPModel(_DPTrainStep, keras.Model):
    """A functional Keras model trained with DP-SGD (compile it with a DP optimizer).

    Build it like ``keras.Model(inputs, outputs)``, or from an existing model with
    `make_private`. Dense, Conv2D and Embedding layers use fast book-keeping clipping;
    other trainable layers use exact vectorised per-example gradients; trainable
    BatchNormalization is refused.

    Example:
        >>> from dpaudit.dp import DPKerasSGDOptimizer
        >>> inputs = keras.Input((64,))
        >>> outputs = keras.layers.Dense(10, activation="softmax")(inputs)
        >>> model = DPModel(inputs, outputs)
        >>> model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0,
        ...               noise_multiplier=1.1, learning_rate=0.1),
        ...               loss="sparse_categorical_crossentropy")
    """


@keras.saving.register_keras_serializable(package="dpaudit")
class DPSequential(_DPTrainStep, keras.Sequential):
    """A ``keras.Sequential`` trained with DP-SGD (TensorFlow Privacy's DPSequential).

    Example:
        >>> model = DPSequential([keras.Input((64,)), keras.layers.Dense(10)])
    """


def is_private_model(model: object) -> bool:
    """True if `model` trains with the DP step of this module."""
    return isinstance(model, _DPTrainStep)


def make_private(model: keras.Model) -> DPModel:
    """A `DPModel` over the SAME layers (and so the same weights) as `model`.

    Training the result trains `model`'s weights too; to keep an untouched baseline,
    clone first (``keras.models.clone_model`` + ``set_weights``).

    Args:
      model: a functional model, or a Sequential that knows its input shape.

    Raises:
      InputError: the model's inputs are unknown (subclassed or unbuilt Sequential).

    Example:
        >>> from dpaudit.training import build_model
        >>> private = make_private(build_model("mlp", input_shape=(64,), num_classes=10,
        ...                                    seed=0))
    """
    if is_private_model(model):
        return model
    if not isinstance(model, keras.Model):
        raise InputError(f"make_private needs a keras.Model, got {type(model).__name__}")
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise InputError(
            f"make_private needs a model whose inputs are known: {model.name!r} is "
            f"{'an unbuilt Sequential' if isinstance(model, keras.Sequential) else 'subclassed'}"
            "; give it a keras.Input, or build the network as DPModel/DPSequential directly")
    # Single tensors rather than one-element lists, so calling the model on a plain
    # array matches its input structure (Keras warns otherwise).
    return DPModel(inputs=inputs[0] if len(inputs) == 1 else inputs,
                   outputs=outputs[0] if len(outputs) == 1 else outputs,
                   name=f"{model.name}_private")
