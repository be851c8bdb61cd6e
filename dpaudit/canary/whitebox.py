"""White-box Dirac canaries run through dpaudit's own DP-SGD step (TensorFlow).

Imported only when a white-box audit runs (it imports TensorFlow). The canary model is
one Embedding row per canary, plus one row for "filler" examples:

    example  = an integer id (canary j, or the filler id m)
    output   = embeddings[id]                       (one float)
    loss     = -coefficient * output                (coefficient c for canaries, 0 for fillers)

so the gradient of canary j is -c on coordinate j and zero elsewhere (a Dirac canary,
Nasr et al. 2023), with norm c = `gradient_norm_factor` * l2_norm_clip, and a filler's
gradient is exactly zero. The dataset has N examples: the included canaries and
zero-gradient fillers in place of the others. A zero-gradient example changes nothing
but the Poisson draw of itself, so a filler is the same as an absent example and the
(add/remove) neighbouring datasets of the accountant are exactly "canary j in" vs
"canary j out", at the sampling rate q = B / N the accountant prices.

Training is `dpaudit.dp.fit_private` on a `DPModel` with `DPKerasSGDOptimizer`: the
real per-example clipping (`mechanism.clip_factors`), noise (`mechanism.noise_stddev`,
`mechanism.add_noise`), normalisation (`mechanism.normalize`) and Poisson sampling of
dpaudit's DP step. Plain SGD with learning rate B / C turns every update of row j into
the privatised gradient in units of C: x_t = b_t + sigma * z_t, where b_t = 1 when
canary j was sampled in step t (correctly clipped from c down to C) and z_t ~ N(0, 1).
The white-box adversary (Nasr et al.'s strongest, the one DP-SGD's accounting assumes)
sees every update and scores canary j with the Neyman-Pearson optimal statistic for
"in" vs "out", the sum over steps of the log-likelihood ratio of
(1 - q) N(0, sigma^2) + q N(1, sigma^2) against N(0, sigma^2).

Any score is sound (the bounds only need the inclusion coins to be fair), so a broken
step cannot make the audit unsound, only more powerful: noise not multiplied by C (with
C != 1), noise divided by B twice, or clipping skipped or applied after averaging all
leave updates larger or less noisy than claimed, and the bound rises above the claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from dpaudit import dp

__all__ = ["WhiteboxRun", "run_whitebox", "dirac_llr"]


@dataclass(frozen=True)
class WhiteboxRun:
    """One white-box training run with Dirac canaries.

    Attributes:
      scores: (m,) sum over steps of each canary's log-likelihood ratio.
      is_member: (m,) whether each canary was in the dataset (fair coins).
      steps: optimizer steps taken.
      mean_update_in, mean_update_out: mean per-step update (units of C) of included and
        excluded canaries' coordinates; a correct step gives about q and 0.
      std_update_out: standard deviation of excluded canaries' updates; about sigma.
    """

    scores: np.ndarray
    is_member: np.ndarray
    steps: int
    mean_update_in: float
    mean_update_out: float
    std_update_out: float


def dirac_llr(updates: np.ndarray, *, noise_multiplier: float, sampling_rate: float) -> np.ndarray:
    """Per-step log-likelihood ratio of a Dirac canary's normalised update.

    log[((1 - q) phi(x / s) + q phi((x - 1) / s)) / phi(x / s)]
    = log(1 - q + q exp((2x - 1) / (2 s^2))), with s = noise_multiplier, q = sampling_rate.
    With no noise the ratio is infinite; the update itself is returned (still a valid
    score, any score is).
    """
    x = np.asarray(updates, dtype=np.float64)
    if noise_multiplier == 0:
        return x
    a = (2.0 * x - 1.0) / (2.0 * noise_multiplier ** 2)
    if sampling_rate >= 1.0:
        return a
    return np.logaddexp(math.log1p(-sampling_rate), math.log(sampling_rate) + a)


def run_whitebox(*, dataset_size: int, batch_size: int, epochs: int, l2_norm_clip: float,
                 noise_multiplier: float, sampling: str, num_canaries: int, seed: int,
                 gradient_norm_factor: float = 10.0) -> WhiteboxRun:
    """Trains the Dirac-canary model once with dpaudit's DP-SGD and scores the canaries.

    Args:
      dataset_size: N, examples in the training set (included canaries + fillers).
      batch_size: B (expected batch size under Poisson sampling).
      epochs: epochs of fit_private.
      l2_norm_clip, noise_multiplier: C and sigma of the DP optimizer.
      sampling: "poisson" or "shuffle".
      num_canaries: m <= N.
      seed: seeds the inclusion coins, the sampling and the noise.
      gradient_norm_factor: canary gradient norm in units of C (> 1, so per-example
        clipping has something to do).

    Returns:
      WhiteboxRun.
    """
    m, n = int(num_canaries), int(dataset_size)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    is_member = rng.random(m) < 0.5
    included = np.flatnonzero(is_member)
    ids = np.concatenate([included, np.full(n - len(included), m)]).astype(np.int32)
    coefficient = np.zeros((n, 1), np.float32)
    coefficient[:len(included)] = gradient_norm_factor * l2_norm_clip
    order = rng.permutation(n)  # canaries and fillers interleaved (matters for shuffle)
    ids, coefficient = ids[order], coefficient[order]

    keras.utils.set_random_seed(int(rng.integers(2**31 - 1)))
    inputs = keras.Input((), dtype="int32")
    embedding = keras.layers.Embedding(m + 1, 1, embeddings_initializer="zeros",
                                       name="dirac_canaries")
    outputs = keras.layers.Reshape((1,))(embedding(inputs))
    model = dp.DPModel(inputs, outputs, name="dirac_canary_model")

    def linear_loss(y_true, y_pred):
        # d(loss)/d(embedding row j) = -y_true: the canary's Dirac gradient.
        return -tf.cast(y_true, y_pred.dtype) * y_pred

    model.compile(optimizer=dp.DPKerasSGDOptimizer(
        l2_norm_clip=l2_norm_clip, noise_multiplier=noise_multiplier,
        learning_rate=batch_size / l2_norm_clip), loss=linear_loss)

    q = batch_size / n
    recorder = _UpdateRecorder(embedding, m, noise_multiplier, q)
    history = dp.fit_private(model, ids, coefficient, batch_size=batch_size, epochs=epochs,
                             sampling=sampling, seed=int(rng.integers(2**31 - 1)),
                             callbacks=[recorder], verbose=0)
    steps = int(history.history["steps"][-1]) if history.history.get("steps") else 0
    steps = max(steps, 1)
    mean_in = float(recorder.sums[is_member].mean() / steps) if is_member.any() else math.nan
    out = ~is_member
    mean_out = float(recorder.sums[out].mean() / steps) if out.any() else math.nan
    var_out = (float(recorder.squares[out].mean() / steps) - mean_out ** 2
               if out.any() else math.nan)
    return WhiteboxRun(scores=recorder.llr.copy(), is_member=is_member, steps=steps,
                       mean_update_in=mean_in, mean_update_out=mean_out,
                       std_update_out=math.sqrt(max(var_out, 0.0)))


class _UpdateRecorder(keras.callbacks.Callback):
    """Reads the canary rows after every step: the white-box view of all iterates."""

    def __init__(self, embedding, m: int, noise_multiplier: float, q: float):
        super().__init__()
        self._embedding, self._m = embedding, m
        self._noise, self._q = noise_multiplier, q
        self._previous: np.ndarray | None = None
        self.llr = np.zeros(m)
        self.sums = np.zeros(m)
        self.squares = np.zeros(m)

    def _rows(self) -> np.ndarray:
        return np.asarray(self._embedding.embeddings.numpy()[:self._m, 0], np.float64)

    def on_train_begin(self, logs=None):
        self._previous = self._rows()

    def on_train_batch_end(self, batch, logs=None):
        current = self._rows()
        update = current - self._previous
        self._previous = current
        self.llr += dirac_llr(update, noise_multiplier=self._noise, sampling_rate=self._q)
        self.sums += update
        self.squares += update ** 2
