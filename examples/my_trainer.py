"""An example `--trainer` for dpaudit: your own training code, audited as it is.

    dpaudit train-and-attack --trainer my_trainer:train --noise-multiplier 2.0 \
        --l2-norm-clip 1.0 --batch-size 25 --epochs 20 --out runs/my-trainer

(run it from the examples/ folder). WARNING: ``--trainer`` (also ``model.trainer`` in a config
file) imports and runs this code. dpaudit calls ``train(x, y, seed=..., private=...)``
for the target model and for every shadow model of both arms, and audits what comes
back. It cannot see inside: the DP settings the report prices are the ones you CLAIM on
the command line or in audit.toml, so keep them equal to the constants below.

The ``dp=`` keyword makes this a trainer on the new contract (`dpaudit.training.trainers`):
``dpaudit canary-audit --trainer my_trainer:train`` then gives it the DP settings to use
(full batch, a few steps, where an audit can refute the claim) and a step hook, passed to
Keras as ``dp.keras_callback()``. Audits from every update are tightest when the update is
plain SGD; with Adam (as here) they stay sound but see less. If your trainer reports the steps it ran in
``model.history.history["steps"]`` (as `dpaudit.dp.fit_private` does), the accountant
prices those steps; otherwise it prices epochs x ceil(N / batch_size).
"""

from __future__ import annotations

import numpy as np

__all__ = ["train", "NUM_CLASSES"]

# The claims to repeat in the config: dp.l2_norm_clip, dp.noise_multiplier,
# training.batch_size, training.epochs, dp.sampling = "poisson".
L2_NORM_CLIP = 1.0
NOISE_MULTIPLIER = 2.0
BATCH_SIZE = 25
EPOCHS = 20
LEARNING_RATE = 0.01
# Shadow models train on subsets that may miss a class; the output layer must still
# have one unit per class of the task (digits: 10).
NUM_CLASSES = 10


def train(x: np.ndarray, y: np.ndarray, *, seed: int, private: bool, dp=None):
    """Trains a small MLP; with `private`, by DP-SGD with Poisson sampling.

    Args:
      dp: a `dpaudit.training.trainers.DPSettings` given by dpaudit, or None for the
        constants above.

    Returns:
      The trained, compiled Keras model. For the private case this is the DP model,
      whose ``history`` records the steps taken.
    """
    import keras

    from dpaudit import dp as dpaudit_dp
    from dpaudit.training.models import build_model

    settings = dp
    clip, noise = L2_NORM_CLIP, NOISE_MULTIPLIER
    batch_size, epochs, callbacks = min(BATCH_SIZE, len(x)), EPOCHS, []
    if settings is not None:
        clip, noise = settings.l2_norm_clip, settings.noise_multiplier
        batch_size = min(settings.batch_size, len(x))
        steps_per_epoch = -(-len(x) // batch_size)
        epochs = -(-settings.steps // steps_per_epoch)  # whole epochs covering the steps
        callbacks = [settings.keras_callback()]

    keras.utils.set_random_seed(seed)
    model = build_model("mlp", input_shape=x.shape[1:],
                        num_classes=max(NUM_CLASSES, int(y.max()) + 1), seed=seed, hidden=(64,))
    loss = keras.losses.SparseCategoricalCrossentropy()
    if private:
        model = dpaudit_dp.make_private(model)
        model.compile(optimizer=dpaudit_dp.DPKerasAdamOptimizer(
            l2_norm_clip=clip, noise_multiplier=noise,
            learning_rate=LEARNING_RATE), loss=loss, metrics=["accuracy"])
    else:
        model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=loss,
                      metrics=["accuracy"])
    dpaudit_dp.fit_private(model, x, y, batch_size=batch_size, epochs=epochs, seed=seed,
                           callbacks=callbacks)
    return model
