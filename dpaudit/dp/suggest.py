"""Choosing ``l2_norm_clip`` from per-example gradient norms (the tuning guide's advice).

Abadi et al. ("Deep Learning with Differential Privacy", CCS 2016, Sec. 3.1) suggest
clipping at about the median of the unclipped per-example gradient norms: a lower C
biases most gradients, a higher one adds noise (std = noise_multiplier * C) that
drowns most of them. TensorFlow Privacy's tuning guide repeats this. `suggest_clip`
measures the norms of a model on a dataset and reports that median with other
quantiles.

Measuring on the private training data is itself a data-dependent choice that the
DP-SGD guarantee does not cover (Papernot & Steinke, "Hyperparameter Tuning with Renyi
Differential Privacy", ICLR 2022); prefer public or held-out data of the same kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import keras
import numpy as np

from dpaudit import validation
from dpaudit.dp.clipping import per_example_gradient_norms
from dpaudit.errors import InputError

__all__ = ["ClipSuggestion", "suggest_clip"]

_NOTE = ("Clip near the median norm (Abadi et al. 2016). Norms were measured at the model's "
         "current weights; they usually shrink as training proceeds. Measuring them on the "
         "private training data is a data-dependent choice not covered by the DP guarantee: "
         "prefer public or held-out data.")


@dataclass(frozen=True)
class ClipSuggestion:
    """Per-example gradient-norm statistics and the suggested clipping norm.

    Attributes:
      l2_norm_clip: the suggestion: the median per-example gradient norm.
      quantiles: {q: norm quantile} for the quantiles asked for.
      n_examples: examples measured.
      mean_norm, max_norm: of the per-example norms.
      note: how to read the numbers.
    """

    l2_norm_clip: float
    quantiles: dict[float, float] = field(default_factory=dict)
    n_examples: int = 0
    mean_norm: float = float("nan")
    max_norm: float = float("nan")
    note: str = _NOTE

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: quantile keys become strings like "0.5"."""
        return {"l2_norm_clip": self.l2_norm_clip,
                "quantiles": {f"{q:g}": v for q, v in self.quantiles.items()},
                "n_examples": self.n_examples, "mean_norm": self.mean_norm,
                "max_norm": self.max_norm, "note": self.note}


def suggest_clip(model: keras.Model, x: Any, y: Any, *, loss_fn: Any = None,
                 quantiles: Sequence[float] = (0.5, 0.75, 0.9),
                 batch_size: int = 256) -> ClipSuggestion:
    """Measures per-example gradient norms and suggests ``l2_norm_clip`` (their median).

    Args:
      model: a built Keras model (plain or DP), at the weights to measure.
      x, y: examples and labels.
      loss_fn: the training loss; default the model's compiled loss.
      quantiles: quantiles to report, each in [0, 1].
      batch_size: examples per pass (memory only).

    Returns:
      A `ClipSuggestion`.

    Example:
        >>> import numpy as np, keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        >>> x_train, y_train = np.ones((20, 4), "float32"), np.zeros(20, "int64")
        >>> s = suggest_clip(model, x_train, y_train,
        ...                  loss_fn="sparse_categorical_crossentropy")
        >>> bool(s.l2_norm_clip > 0)
        True
    """
    if loss_fn is None:
        loss_fn = getattr(model, "loss", None)
        if loss_fn is None:
            raise InputError("suggest_clip needs loss_fn, or a model compiled with a loss")
    qs = []
    for q in quantiles:
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 1:
            raise InputError(f"quantiles must be numbers in [0, 1], got {q!r}")
        qs.append(float(q))
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    if len(x) == 0:
        raise InputError("suggest_clip needs at least one example, got 0")
    norms = per_example_gradient_norms(model, loss_fn, x, y, batch_size=batch_size)
    values = np.quantile(norms, qs) if qs else []
    return ClipSuggestion(l2_norm_clip=float(np.median(norms)),
                          quantiles={q: float(v) for q, v in zip(qs, values)},
                          n_examples=int(len(norms)), mean_norm=float(norms.mean()),
                          max_norm=float(norms.max()))
