"""Trainer canaries: crafted input canaries through a user's trainer, every update observed.

The audit of a `--trainer` on the new contract (`dpaudit.training.trainers`). DP-SGD's
guarantee holds for every dataset and covers every intermediate model, so the auditor
picks the dataset and watches every update, as the tight audits do (Nasr, Hayes, Steinke,
Balle, Tramer, Jagielski, Carlini, Terzis, "Tight Auditing of Differentially Private
Machine Learning", USENIX Security 2023, input-space canaries with gradient access;
Annamalai and De Cristofaro, NeurIPS 2024, for the choice of a worst-case setting):

* The training set is the m crafted canaries alone, each included with a fair coin.
  Canary i is ``s * v_i`` with v_i orthonormal directions (random ones beyond the input
  dimension) and s ten times the largest norm of the real inputs, with a random label:
  its gradient is far larger than C (so a missing clip, or a clip of the batch mean, lets
  it through unbounded) and nearly orthogonal to the other canaries' gradients.
* The trainer runs with `DPSettings` chosen by `dpaudit.canary.settings` (full batch, a
  few steps) and calls the step hook, which records the trainable weights w_0 .. w_T.
* Scores: at every step t, dpaudit computes each canary's gradient g_i at w_t (sparse
  categorical cross-entropy of the model's output probabilities, the loss dpaudit scores
  with everywhere) and regresses the update w_t - w_{t+1} on the unit directions g_i /
  |g_i| by least squares. For a correct full-batch DP-SGD step on this dataset the
  update is (lr / B) * (C * sum_{i in} g_i / |g_i| + sigma * C * z), so canary i's
  coefficient is about (lr C / B) * (coin_i + sigma * noise). A canary's score is the sum
  over steps of its coefficients, times the run's batch size (the learning rate is the
  same in every run, the batch size is not).

The scores are a function of the released iterates only (post-processing), so the one-run
bound of Steinke, Nasr and Jagielski (NeurIPS 2023) computed from them is sound whatever
the trainer does; how tight it is depends on how closely the trainer is plain DP-SGD.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dpaudit.errors import InputError

__all__ = ["CANARY_SCALE", "StepRecorder", "craft_canaries", "score_updates"]

logger = logging.getLogger(__name__)

# Canary input norm in units of the largest real input norm: large gradients, far from
# the data's (see the module docstring).
CANARY_SCALE = 10.0


def craft_canaries(reference_x: np.ndarray, num_canaries: int, num_classes: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """m crafted input canaries shaped like `reference_x`'s rows, and random labels.

    Orthonormal directions (up to the input dimension, random unit vectors beyond),
    scaled to `CANARY_SCALE` times the largest row norm of `reference_x`.
    """
    shape = reference_x.shape[1:]
    dim = int(np.prod(shape))
    flat = np.asarray(reference_x, np.float64).reshape(len(reference_x), dim)
    norm = float(np.max(np.linalg.norm(flat, axis=1))) if len(flat) else 1.0
    norm = norm if norm > 0 else 1.0
    directions = rng.normal(size=(num_canaries, dim))
    if num_canaries <= dim:
        q, _ = np.linalg.qr(directions.T)  # dim x m, orthonormal columns
        directions = q.T
    else:
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    x = (CANARY_SCALE * norm * directions).reshape((num_canaries, *shape)).astype(np.float32)
    y = rng.integers(0, num_classes, size=num_canaries)
    return x, y


@dataclass
class StepRecorder:
    """The step hook: records the trainable weights each time the trainer calls it."""

    snapshots: list[list[np.ndarray]] = field(default_factory=list)
    model: Any = None

    def __call__(self, model: Any) -> None:
        self.model = model
        weights = [np.array(v.numpy(), copy=True) for v in model.trainable_variables]
        # A call with nothing changed since the last one (e.g. a Keras callback's
        # on_train_begin when training resumes) is not an update: not counted or priced.
        if self.snapshots and all(np.array_equal(a, b)
                                  for a, b in zip(self.snapshots[-1], weights)):
            return
        self.snapshots.append(weights)

    @property
    def steps(self) -> int:
        return max(0, len(self.snapshots) - 1)


def _flat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(a).astype(np.float64) for a in arrays])


def canary_gradients(model: Any, weights: list[np.ndarray], canary_x: np.ndarray,
                     canary_y: np.ndarray) -> np.ndarray:
    """(m, D) per-canary gradients of the cross-entropy of `model` at `weights`."""
    import keras
    import tensorflow as tf

    variables = model.trainable_variables
    for v, w in zip(variables, weights):
        v.assign(w)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="none")
    rows = []
    for start in range(0, len(canary_x), 256):
        xb, yb = canary_x[start:start + 256], canary_y[start:start + 256]
        with tf.GradientTape() as tape:
            losses = loss_fn(yb, model(xb, training=True))
        jac = tape.jacobian(losses, variables)
        rows.append(np.concatenate([np.reshape(np.asarray(j), (len(xb), -1)) for j in jac],
                                   axis=1))
    return np.concatenate(rows).astype(np.float64)


def score_updates(recorder: StepRecorder, canary_x: np.ndarray, canary_y: np.ndarray, *,
                  batch_size: int,
                  gradients: Callable[..., np.ndarray] = canary_gradients) -> np.ndarray:
    """Each canary's score from every recorded update (module docstring).

    Args:
      recorder: the hook after training (weights w_0 .. w_T, and the model).
      canary_x, canary_y: all m canaries, included or not.
      batch_size: the run's batch size B (scores are scaled by it).
      gradients: computes the (m, D) gradients at given weights (tests pass a stub).

    Returns:
      (m,) scores, higher = more likely included.

    Raises:
      InputError: the trainer never called the hook, or called it only once.
    """
    if recorder.steps < 1:
        raise InputError(
            f"the trainer called the step hook {len(recorder.snapshots)} time(s); a "
            "new-contract trainer must call dp.observe(model) once before the first update "
            "and after every update (or pass dp.keras_callback() to fit)")
    final = [np.array(v.numpy(), copy=True) for v in recorder.model.trainable_variables]
    scores = np.zeros(len(canary_x))
    for before, after in zip(recorder.snapshots[:-1], recorder.snapshots[1:]):
        grads = gradients(recorder.model, before, canary_x, canary_y)
        norms = np.linalg.norm(grads, axis=1, keepdims=True)
        directions = np.divide(grads, norms, out=np.zeros_like(grads), where=norms > 0)
        update = _flat(before) - _flat(after)
        coefficients, *_ = np.linalg.lstsq(directions.T, update, rcond=None)
        scores += coefficients
    for v, w in zip(recorder.model.trainable_variables, final):
        v.assign(w)  # the model handed back is the trained one, not the last probe
    return scores * float(batch_size)
