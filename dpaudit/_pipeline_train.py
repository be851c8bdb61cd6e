"""Training recipes for the pipeline: one per arm, with a resumable model cache.

A `Recipe` trains a model the way its arm does (plain or DP-SGD, same sampling) and is
used for the target model and for that arm's shadow models, so shadow models imitate
the target's training (Shokri et al., "Membership Inference Attacks Against Machine
Learning Models", S&P 2017).

Resuming: every trained model is saved as `<out>/models/<name>.keras` with a
`<name>.json` beside it holding a key (hash of the recipe, the seed and the exact
training examples) and the training history. A later run with the same key loads the
model (safe mode on) instead of training it again. The .json is written last, so a
model interrupted half-way is never reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dpaudit._io import atomic_path, atomic_write_text
from dpaudit._progress import Progress
from dpaudit.config import AuditConfig
from dpaudit.errors import InputError

__all__ = ["Recipe", "Trained", "ModelCache", "load_trainer", "predict_proba",
           "predict_log_proba", "per_example_loss", "derive_seed"]

logger = logging.getLogger(__name__)


def derive_seed(seed: int, *parts: object) -> int:
    """A reproducible 31-bit seed for a named role (e.g. ("target",)), independent of order."""
    text = json.dumps([int(seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") >> 1


@dataclasses.dataclass(frozen=True)
class Trained:
    """A trained model (plain Keras, for predictions) and its history."""

    model: Any
    history: dict[str, list[float]]
    reused: bool = False


def load_trainer(spec: str) -> Callable[..., Any]:
    """Imports `module:function`; InputError naming the spec if that fails."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise InputError(f"trainer {spec!r}: cannot import module {module_name!r} ({e})") from None
    except Exception as e:  # noqa: BLE001 - user code failing at import is bad input
        raise InputError(f"trainer {spec!r}: importing {module_name!r} failed "
                         f"({type(e).__name__}: {e})") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise InputError(f"trainer {spec!r}: module {module_name!r} has no function {attr!r}")
    return function


def _trainer_source_hash(function: Callable[..., Any]) -> str:
    try:
        source = inspect.getsource(inspect.getmodule(function))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


class ModelCache:
    """Saved models keyed by what produced them (see module docstring)."""

    def __init__(self, directory: Path | None):
        self.directory = directory

    def _paths(self, name: str) -> tuple[Path, Path]:
        assert self.directory is not None
        return self.directory / f"{name}.keras", self.directory / f"{name}.json"

    def get(self, name: str, key: str) -> Trained | None:
        if self.directory is None:
            return None
        model_path, meta_path = self._paths(name)
        if not (model_path.is_file() and meta_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if meta.get("key") != key:
            logger.info("%s: saved model is from another configuration; training again", name)
            return None
        import keras

        try:
            model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
        except Exception as e:  # noqa: BLE001 - a damaged cache entry is retrained
            logger.warning("%s: cannot load saved model (%s); training again", model_path, e)
            return None
        return Trained(model=model, history=meta.get("history") or {}, reused=True)

    def put(self, name: str, key: str, trained: Trained) -> None:
        if self.directory is None:
            return
        model_path, meta_path = self._paths(name)
        try:
            with atomic_path(model_path) as tmp:
                trained.model.save(tmp)
        except Exception as e:  # noqa: BLE001 - e.g. a user model Keras cannot serialise
            logger.warning("%s: cannot save the model (%s); it will not be reused", name, e)
            return
        atomic_write_text(meta_path, json.dumps({"key": key, "history": trained.history},
                                                indent=1) + "\n")


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
            h.update(_trainer_source_hash(self.trainer).encode())
        h.update(np.ascontiguousarray(x, dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
        return h.hexdigest()[:32]

    def train(self, name: str, label: str, x: np.ndarray, y: np.ndarray, *,
              seed: int) -> Trained:
        """Trains (or reloads) the model `name` on (x, y) with initial weights from `seed`."""
        key = self.key(x, y, seed)
        cached = self.cache.get(name, key)
        if cached is not None:
            self.progress.note(f"{label:<22} reused from {self.cache.directory}")
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
                trained = self._train_builtin(x, y, seed, advance)
        self.cache.put(name, key, trained)
        return trained

    def build(self, seed: int):
        """The architecture with the initial weights of `seed` (built once, then copied)."""
        from dpaudit.models import build_model

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
                       advance: Callable[[int], None]) -> Trained:
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
                                 callbacks=[_Advance()], verbose=0)
        # An uncompiled copy with the trained weights: what is saved and predicted with
        # is the same in a fresh and in a resumed run, and carries no optimizer state.
        trained = self.build(seed)
        trained.set_weights(model.get_weights())
        return Trained(model=trained, history=_plain_history(history.history))

    def _train_user(self, x: np.ndarray, y: np.ndarray, seed: int) -> Trained:
        spec = self.config.model.trainer
        try:
            model = self.trainer(x, y, seed=int(seed), private=self.private)  # type: ignore[misc]
        except InputError as e:
            raise InputError(f"trainer {spec!r}: {e}") from None
        except Exception as e:  # noqa: BLE001 - the user's code failing is bad input to us
            first = (str(e).strip().splitlines() or [""])[0][:300]
            raise InputError(f"trainer {spec!r} failed on {len(x)} examples of shape "
                             f"{tuple(x.shape[1:])}: {type(e).__name__}: {first}") from None
        if not hasattr(model, "predict"):
            raise InputError(f"trainer {self.config.model.trainer!r} returned "
                             f"{type(model).__name__}, expected a trained keras.Model")
        history = getattr(getattr(model, "history", None), "history", None) or {}
        return Trained(model=model, history=_plain_history(history))


def _plain_history(history: dict[str, Any]) -> dict[str, list[float]]:
    return {str(k): [float(v) for v in np.ravel(values)] for k, values in history.items()}


def _call_chunked(model: Any, x: np.ndarray) -> np.ndarray:
    # Direct calls, not model.predict: predict traces a new function per model, which is
    # slow and noisy for the many small models of an audit.
    chunks = [np.asarray(model(x[i:i + 1024], training=False), dtype=np.float64)
              for i in range(0, len(x), 1024)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 0))


def _softmax_head(model: Any) -> tuple[Any, np.ndarray, np.ndarray] | None:
    """(model up to the last layer's input, kernel, bias) if it ends in Dense + softmax."""
    import keras

    last = model.layers[-1] if getattr(model, "layers", None) else None
    if not isinstance(last, keras.layers.Dense):
        return None
    if getattr(last.activation, "__name__", "") != "softmax":
        return None
    try:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        body = keras.Model(inputs, last.input)
    except Exception:  # noqa: BLE001 - shared or odd layers: fall back to the outputs
        return None
    kernel = np.asarray(last.kernel, dtype=np.float64)
    bias = (np.asarray(last.bias, dtype=np.float64) if last.use_bias
            else np.zeros(kernel.shape[1]))
    return body, kernel, bias


def predict_log_proba(model: Any, x: np.ndarray) -> np.ndarray:
    """Log class probabilities in float64, shape (examples, classes).

    A float32 softmax rounds confident outputs to exactly 1.0, so many members get loss
    0 and tie, which blinds threshold attacks at low false-positive rates. For a model
    ending in Dense + softmax (every zoo model, the tutorial's net) the logits are
    recomputed in float64 from the last layer's input and weights, and log-softmax is
    taken in float64. Other models: log of their probabilities, or log-softmax of their
    outputs if those are not probabilities (logits).
    """
    head = _softmax_head(model)
    if head is not None:
        body, kernel, bias = head
        hidden = _call_chunked(body, x)
        logits = hidden.reshape(len(hidden), -1) @ kernel + bias
    else:
        out = _call_chunked(model, x)
        if out.ndim != 2:
            raise InputError(f"model output has shape {out.shape}; expected (examples, classes)")
        if np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
            return np.log(np.clip(out, np.finfo(np.float64).tiny, 1.0))
        logger.info("model outputs are not probabilities; treating them as logits")
        logits = out
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def predict_proba(model: Any, x: np.ndarray) -> np.ndarray:
    """Class probabilities in float64 (see `predict_log_proba` for the precision)."""
    return np.exp(predict_log_proba(model, x))


def per_example_loss(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of each example, -log p(label), from float64 probabilities."""
    picked = probs[np.arange(len(labels)), labels]
    return -np.log(np.clip(picked, np.finfo(np.float64).tiny, 1.0))


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
