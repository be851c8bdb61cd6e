"""A resumable cache of trained models, keyed by what produced them.

Every trained model is saved as `<out>/models/<name>.keras` with a `<name>.json` beside it
holding a key (hash of the recipe, the seed and the exact training examples) and the
training history. A later run with the same key loads the model (safe mode on) instead of
training it again. The .json is written last, so a model interrupted half-way is never
reused. Models trained together as one stack (`dpaudit.training.stacked`) are one entry of
plain arrays, `<name>.npz` (read without pickle) beside the same kind of `<name>.json`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from dpaudit.files import atomic_path, atomic_write_bytes, atomic_write_text

__all__ = ["ModelCache", "Trained"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Trained:
    """A trained model (plain Keras, for predictions) and its history."""

    model: Any
    history: dict[str, list[float]]
    reused: bool = False


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

    def get_arrays(self, name: str, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        """The arrays and history saved by `put_arrays` under `key`, or None."""
        if self.directory is None:
            return None
        array_path, meta_path = self.directory / f"{name}.npz", self.directory / f"{name}.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("key") != key:
                logger.info("%s: saved models are from another configuration; training again",
                            name)
                return None
            with np.load(array_path, allow_pickle=False) as saved:
                arrays = {k: saved[k] for k in saved.files}
        except (OSError, ValueError, json.JSONDecodeError) as e:
            logger.info("%s: no usable saved models (%s); training", name, e)
            return None
        return arrays, meta.get("history") or {}

    def put_arrays(self, name: str, key: str, arrays: dict[str, np.ndarray],
                   history: dict) -> None:
        """Saves named arrays (e.g. a stack's weights) under `key`; the .json goes last."""
        if self.directory is None:
            return
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(self.directory / f"{name}.npz", buffer.getvalue())
        atomic_write_text(self.directory / f"{name}.json",
                          json.dumps({"key": key, "history": history}, indent=1) + "\n")
