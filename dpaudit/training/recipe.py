"""Training recipes: how one arm (plain or DP-SGD) trains each of its models.

A `Recipe` trains a model the way its arm does (plain or DP-SGD, same sampling) and is
used for the target model and for that arm's shadow models, so shadow models imitate
the target's training (Shokri et al., "Membership Inference Attacks Against Machine
Learning Models", S&P 2017).

Trained models are reused through `dpaudit.training.cache.ModelCache`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from dpaudit.errors import InputError
from dpaudit.progress import Progress
from dpaudit.training.cache import ModelCache, Trained
from dpaudit.training.seeds import derive_seed
from dpaudit.training.trainers import call_trainer, trainer_source_hash

if TYPE_CHECKING:  # config imports the model zoo's names from this package
    from dpaudit.config import AuditConfig

__all__ = ["Recipe"]

logger = logging.getLogger(__name__)

@dataclasses.dataclass
class Recipe:
    """How one arm trains a model: the config, plain or private, and the noise used."""

    config: AuditConfig
    private: bool
    noise_multiplier: float
    input_shape: tuple[int, ...]
    num_classes: int
    cache: ModelCache
    progress: Progress
    trainer: Callable[..., Any] | None = None
    initial_weights: dict[int, list[np.ndarray]] = dataclasses.field(default_factory=dict)

    @property
    def arm(self) -> str:
        return "dp" if self.private else "baseline"

    def key(self, x: np.ndarray, y: np.ndarray, seed: int) -> str:
        h = hashlib.sha256()
        h.update(json.dumps([self.config.fingerprint(), self.arm, self.noise_multiplier,
                             int(seed)]).encode())
        if self.trainer is not None:
            h.update(trainer_source_hash(self.trainer).encode())
        h.update(np.ascontiguousarray(x, dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
        return h.hexdigest()[:32]

    def train(self, name: str, label: str, x: np.ndarray, y: np.ndarray, *,
              seed: int, callbacks: tuple = ()) -> Trained:
        """Trains (or reloads) the model `name` on (x, y) with initial weights from `seed`.

        `callbacks` (Keras) run during built-in training only, not for a user trainer.
        """
        key = self.key(x, y, seed)
        cached = self.cache.get(name, key)
        if cached is not None:
            self.progress.reused(label, self.cache.directory)
            return cached
        import keras

        # Every model gets its own global seed, so reusing one model does not shift
        # the random streams of the models trained after it.
        keras.utils.set_random_seed(derive_seed(seed, "train"))
        epochs = self.config.training.epochs
        with self.progress.model(label, epochs if self.trainer is None else 1) as advance:
            if self.trainer is not None:
                trained = self._train_user(x, y, seed)
                advance(1)
            else:
                trained = self._train_builtin(x, y, seed, advance, callbacks)
        self.cache.put(name, key, trained)
        return trained

    def build(self, seed: int):
        """The architecture with the initial weights of `seed` (built once, then copied)."""
        from dpaudit.training.models import build_model

        cfg = self.config.model
        options = {"hidden": cfg.hidden} if cfg.name == "mlp" else {}
        model = build_model(cfg.name, input_shape=self.input_shape,
                            num_classes=self.num_classes, seed=seed, **options)
        if seed not in self.initial_weights:
            self.initial_weights[seed] = model.get_weights()
        else:
            model.set_weights(self.initial_weights[seed])
        return model

    def _train_builtin(self, x: np.ndarray, y: np.ndarray, seed: int,
                       advance: Callable[[int], None], callbacks: tuple = ()) -> Trained:
        import keras

        from dpaudit import dp

        t = self.config.training
        model = self.build(seed)
        to_fit = model
        if self.private:
            d = self.config.dp
            optimizer = _DP_OPTIMIZERS[t.optimizer](
                l2_norm_clip=d.l2_norm_clip, noise_multiplier=self.noise_multiplier,
                num_microbatches=d.num_microbatches, learning_rate=t.learning_rate)
            # The DP wrapper shares `model`'s layers, so training it trains `model`,
            # which stays a plain functional model to predict with and save.
            to_fit = dp.make_private(model)
        else:
            optimizer = _PLAIN_OPTIMIZERS[t.optimizer](learning_rate=t.learning_rate)
        to_fit.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(),
                       metrics=["accuracy"])

        class _Advance(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                advance(1)

        history = dp.fit_private(to_fit, x, y, batch_size=t.batch_size, epochs=t.epochs,
                                 sampling=self.config.dp.sampling,
                                 seed=derive_seed(seed, "sampling"),
                                 callbacks=[*callbacks, _Advance()], verbose=0)
        # An uncompiled copy with the trained weights: what is saved and predicted with
        # is the same in a fresh and in a resumed run, and carries no optimizer state.
        trained = self.build(seed)
        trained.set_weights(model.get_weights())
        return Trained(model=trained, history=_plain_history(history.history))

    def _train_user(self, x: np.ndarray, y: np.ndarray, seed: int) -> Trained:
        spec = self.config.model.trainer
        model = call_trainer(self.trainer, spec, x, y,  # type: ignore[arg-type]
                             seed=int(seed), private=self.private)
        if not hasattr(model, "predict"):
            raise InputError(f"trainer {self.config.model.trainer!r} returned "
                             f"{type(model).__name__}, expected a trained keras.Model")
        history = getattr(getattr(model, "history", None), "history", None) or {}
        return Trained(model=model, history=_plain_history(history))


def _plain_history(history: dict[str, Any]) -> dict[str, list[float]]:
    return {str(k): [float(v) for v in np.ravel(values)] for k, values in history.items()}


def _optimizers() -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[..., Any]]]:
    import keras

    from dpaudit import dp

    plain = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam,
             "adagrad": keras.optimizers.Adagrad}
    private = {"sgd": dp.DPKerasSGDOptimizer, "adam": dp.DPKerasAdamOptimizer,
               "adagrad": dp.DPKerasAdagradOptimizer}
    return plain, private


class _LazyTable(dict):
    """Fills itself on first lookup, so importing this module does not import Keras."""

    def __init__(self, index: int):
        super().__init__()
        self._index = index

    def __missing__(self, key: str) -> Callable[..., Any]:
        self.update(_optimizers()[self._index])
        return dict.__getitem__(self, key)


_PLAIN_OPTIMIZERS = _LazyTable(0)
_DP_OPTIMIZERS = _LazyTable(1)
