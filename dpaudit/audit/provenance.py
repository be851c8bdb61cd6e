"""What exactly an audit looked at, and when: run timestamps and SHA-256 hashes.

A reviewer comparing two reports must know whether they audited the same data and the
same model file; the results record both hashes and when the run started and finished
(`AuditResult.provenance`). The hashes cover the bytes actually used: the data hash the
float32 features and int64 labels of every part of the split, in a fixed order, with
their shapes; the model hash the saved `.keras` file, which Keras stamps with the time
it was saved, so two trainings of identical weights give different file hashes (a run
that reuses a saved model reports that file's hash).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
from typing import Any, Iterable

import numpy as np

__all__ = ["now_utc", "arrays_sha256", "file_sha256", "model_entry"]

_CHUNK = 1 << 20


def now_utc() -> str:
    """The current time as ISO-8601 UTC to the second, e.g. "2026-11-30T12:00:00+00:00"."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def arrays_sha256(parts: Iterable[tuple[str, Any, Any]]) -> str:
    """SHA-256 over (name, x, y) parts: names, shapes and bytes, so no two splits collide."""
    h = hashlib.sha256()
    for name, x, y in parts:
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.int64)
        h.update(f"{name}:{x.shape}:{y.shape};".encode())
        h.update(x.tobytes())
        h.update(y.tobytes())
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def model_entry(path: str | Path | None, root: str | Path | None = None) -> dict[str, str]:
    """{"file": path (relative to `root` when inside it), "sha256": hash}; {} if no file."""
    if path is None or not Path(path).is_file():
        return {}
    path = Path(path)
    shown = path
    if root is not None:
        try:
            shown = path.resolve().relative_to(Path(root).resolve())
        except ValueError:
            pass
    return {"file": shown.as_posix(), "sha256": file_sha256(path)}
