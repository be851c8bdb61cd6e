"""Leakage over training: a cheap attack on the target model at a few epochs.

TF Privacy's privacy report plots attack metrics per epoch, so a reviewer sees when a
model starts to memorise. `leakage_callback` gives a Keras callback that, at a few epochs,
scores the target's members and non-members with the loss-threshold attack (Yeom et al.,
"Privacy risk in machine learning: analyzing the connection to overfitting", CSF 2018,
https://arxiv.org/abs/1709.01604: score = -loss) and records its AUC and TPR at low FPR.
The metrics go into the epoch's logs, so Keras' History (and the model cache, which keeps
the history) carries them; `leakage_from_history` turns them into the results contract's
`ArmResult.leakage_per_epoch`. Epochs that were not checkpoints hold NaN.

Example:
    >>> cb = leakage_callback(members, nonmembers, epochs=40)  # doctest: +SKIP
    >>> model.fit(x, y, epochs=40, callbacks=[cb])                # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from dpaudit.results import FPR_LEVELS

__all__ = ["leakage_callback", "measure_leakage", "leakage_from_history", "ATTACK",
           "checkpoint_epochs"]

ATTACK = "loss_threshold"
_PREFIX = "leakage_"


def checkpoint_epochs(epochs: int, count: int = 5) -> list[int]:
    """About `count` epochs spread over 1..epochs, the last included (1-based)."""
    if epochs < 1:
        return []
    return sorted({int(round(e)) for e in np.linspace(1, epochs, min(count, epochs))})


def _keys() -> list[str]:
    return [f"{_PREFIX}auc"] + [f"{_PREFIX}tpr_at_fpr_{level}" for level in FPR_LEVELS]


def leakage_callback(members: Any, nonmembers: Any, *, epochs: int, count: int = 5,
                     delta: float = 1e-5) -> Any:
    """A Keras callback: loss-threshold AUC and TPR at low FPR at a few epochs.

    Args:
      members, nonmembers: objects with `x` and `y` (e.g. `dpaudit.data` parts): the
        target's training examples and held-out examples of the same distribution.
      epochs: the number of epochs training will run.
      count: how many epochs to measure (`checkpoint_epochs`).
      delta: passed to the metrics (AUC and TPR do not use it).

    Returns:
      A `keras.callbacks.Callback` that adds the `leakage_*` metrics to each epoch's logs
      (NaN at epochs that are not checkpoints).
    """
    import keras

    x = np.concatenate([np.asarray(members.x), np.asarray(nonmembers.x)])
    y = np.concatenate([np.asarray(members.y), np.asarray(nonmembers.y)]).astype(int)
    is_member = np.arange(len(x)) < len(members.x)
    measured_epochs = set(checkpoint_epochs(int(epochs), count))

    class LeakageCheckpoints(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if logs is None:
                return
            values = dict.fromkeys(_keys(), math.nan)
            if epoch + 1 in measured_epochs:
                values.update(measure_leakage(self.model, x, y, is_member, delta=delta))
            logs.update(values)

    return LeakageCheckpoints()


def measure_leakage(model: Any, x: np.ndarray, y: np.ndarray, is_member: np.ndarray, *,
                    delta: float = 1e-5) -> dict[str, float]:
    """The loss-threshold attack's AUC and TPR at each FPR level on `model` now."""
    from dpaudit.attacks.metrics import evaluate
    from dpaudit.training.scoring import per_example_loss, predict_proba

    scores = -per_example_loss(predict_proba(model, x), y)
    with warnings.catch_warnings():  # unresolvable FPRs read NaN, as in the attacks
        warnings.simplefilter("ignore")
        m = evaluate(scores, is_member, delta=delta)
    out = {f"{_PREFIX}auc": float(m.auc)}
    for level, tpr in m.tpr_at_fpr.items():
        out[f"{_PREFIX}tpr_at_fpr_{level:g}"] = float(tpr)
    return out


def leakage_from_history(history: Mapping[str, Sequence[float]]
                         ) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Splits the callback's metrics out of a training history.

    Returns:
      (leakage_per_epoch for the results, the history without those keys).
      leakage_per_epoch is {} when the history holds none.
    """
    rest = {k: list(v) for k, v in history.items() if not k.startswith(_PREFIX)}
    auc = [float(v) for v in history.get(f"{_PREFIX}auc", ())]
    measured = [i for i, v in enumerate(auc) if math.isfinite(v)]
    if not measured:
        return {}, rest

    def pick(key: str) -> list[float | None]:
        values = [float(v) for v in history.get(key, ())]
        return [values[i] if i < len(values) and math.isfinite(values[i]) else None
                for i in measured]

    leakage = {"attack": ATTACK, "epoch": [i + 1 for i in measured],
               "auc": pick(f"{_PREFIX}auc"),
               "tpr_at_fpr": {level: pick(f"{_PREFIX}tpr_at_fpr_{level}")
                              for level in FPR_LEVELS}}
    return leakage, rest
