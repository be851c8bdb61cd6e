"""A resumable cache of trained models, keyed by what produced them.

Every trained model is saved as `<out>/models/<name>.keras` with a `<name>.json` beside it
holding a key (hash of the recipe, the seed and the exact training examples) and the
training history. A later run with the same key loads the model (safe mode on) instead of
training it again. The .json is written last, so a model interrupted half-way is never
reused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from dpaudit.files import atomic_path, atomic_write_text

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
