"""Users' own training functions (`--trainer module:function`): import and fingerprint.

`--trainer` (also when set in a config file) imports and runs the user's code.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from typing import Any, Callable

from dpaudit.errors import InputError

__all__ = ["load_trainer", "trainer_source_hash"]


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


def trainer_source_hash(function: Callable[..., Any]) -> str:
    try:
        source = inspect.getsource(inspect.getmodule(function))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""
    return hashlib.sha256(source.encode()).hexdigest()[:16]
