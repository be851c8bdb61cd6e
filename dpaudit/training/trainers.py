"""Users' own training functions (`--trainer module:function`): contract, import, fingerprint.

WARNING: `--trainer` (also when set as ``model.trainer`` in a config file) imports the
named module and runs its code with your privileges. Only name code you trust.

The contract. dpaudit calls the trainer with the examples and a seed::

    train(x, y, *, seed, private)               # old contract: DP settings hard-coded
    train(x, y, *, seed, private, dp=settings)  # new contract: dpaudit gives the settings

A trainer whose signature has a ``dp`` keyword (or ``**kwargs``) gets a frozen
`DPSettings` when ``private`` is true and must train with exactly those settings (noise
multiplier, clipping norm, batch size, steps, sampling). That lets `dpaudit canary-audit`
choose settings at which an audit can refute the claimed epsilon (full batch, few steps:
Nasr et al., "Tight Auditing of Differentially Private Machine Learning", USENIX Security
2023; Annamalai and De Cristofaro, "Nearly Tight Black-Box Auditing of Differentially
Private Machine Learning", NeurIPS 2024). The optional step hook ``settings.observe(model)``
(or the Keras callback ``settings.keras_callback()``) is called by the trainer once before
the first update and after every update, so dpaudit can score canaries from every update
rather than from the final model only. Old-contract trainers are still accepted and audited
as before (then, typically, inconclusively: see `dpaudit.canary.ceiling`).

Models trained by a `--trainer` are cached under ``<out>/models`` keyed by
`trainer_source_hash`, which covers every module of the trainer's package (opt out of
reuse with ``output.save_models = false``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dpaudit.errors import InputError

__all__ = [
    "DPSettings",
    "accepts_settings",
    "call_trainer",
    "load_trainer",
    "load_trainer_from",
    "trainer_import_root",
    "trainer_source_files",
    "trainer_source_hash",
]


@dataclasses.dataclass(frozen=True)
class DPSettings:
    """The DP-SGD settings dpaudit asks a new-contract trainer to use (see module docstring).

    Attributes:
      noise_multiplier: sigma; the noise added to the sum of clipped gradients has standard
        deviation ``noise_multiplier * l2_norm_clip``.
      l2_norm_clip: C, the per-example gradient norm bound.
      batch_size: expected batch size B (with ``sampling="poisson"`` each example is in a
        step's batch with probability B / len(x); with B = len(x) every step is full-batch).
      steps: number of noisy updates to make.
      sampling: "poisson" or "shuffle" (`dpaudit.accounting.SAMPLINGS`).
      observe: the step hook, or None: call ``observe(model)`` once before the first update
        and once after every update. Not part of the settings' equality or hash.
    """

    noise_multiplier: float
    l2_norm_clip: float
    batch_size: int
    steps: int
    sampling: str = "poisson"
    observe: Callable[[Any], None] | None = dataclasses.field(default=None, compare=False,
                                                             repr=False)

    def __post_init__(self) -> None:
        if not self.noise_multiplier >= 0:
            raise InputError(f"DPSettings.noise_multiplier must be >= 0, got "
                             f"{self.noise_multiplier!r}")
        if not self.l2_norm_clip > 0:
            raise InputError(f"DPSettings.l2_norm_clip must be > 0, got {self.l2_norm_clip!r}")
        if self.batch_size < 1 or self.steps < 1:
            raise InputError("DPSettings.batch_size and steps must be >= 1, got "
                             f"{self.batch_size} and {self.steps}")
        if self.sampling not in ("poisson", "shuffle"):
            raise InputError(f"DPSettings.sampling must be 'poisson' or 'shuffle', got "
                             f"{self.sampling!r}")

    def keras_callback(self) -> Any:
        """A Keras callback calling `observe` before training and after every batch."""
        import keras

        observe = self.observe

        class _Observe(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                if observe is not None:
                    observe(self.model)

            def on_train_batch_end(self, batch, logs=None):
                if observe is not None:
                    observe(self.model)

        return _Observe()


def accepts_settings(function: Callable[..., Any]) -> bool:
    """True when `function` takes the new contract's ``dp`` keyword (or ``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "dp" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
               or p.kind == p.VAR_KEYWORD for p in parameters)


def call_trainer(trainer: Callable[..., Any], spec: str, x: Any, y: Any, *,
                 what: str = "examples", **kwargs: Any) -> Any:
    """``trainer(x, y, **kwargs)``, with the user's code failing reported as bad input
    naming the trainer, the data it got and the first line of its error."""
    try:
        return trainer(x, y, **kwargs)
    except InputError as e:
        raise InputError(f"trainer {spec!r}: {e}") from None
    except Exception as e:  # noqa: BLE001 - the user's code failing is bad input to us
        first = (str(e).strip().splitlines() or [""])[0][:300]
        raise InputError(f"trainer {spec!r} failed on {len(x)} {what} of shape "
                         f"{tuple(x.shape[1:])}: {type(e).__name__}: {first}") from None


def load_trainer(spec: str) -> Callable[..., Any]:
    """Imports `module:function` (running the user's code); InputError naming the spec."""
    module_name, _, attr = spec.partition(":")
    # As `python -m` does: a module beside the user (`--trainer my_trainer:train` run from
    # its folder) imports without PYTHONPATH; the console script does not put it there.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
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


def trainer_import_root(spec: str) -> str | None:
    """The folder that `spec` ("module:function", already imported) imports from.

    A Ray worker has the driver's working folder on its path, not what the user added to
    sys.path (a PYTHONPATH set in Python, a test's path); `load_trainer_from` adds it.
    """
    module_name = spec.partition(":")[0]
    file = getattr(sys.modules.get(module_name), "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    depth = module_name.count(".") + (path.name == "__init__.py")
    return str(path.parents[depth])


def load_trainer_from(spec: str, root: str | None) -> Callable[..., Any]:
    """`load_trainer(spec)` with `root` (from `trainer_import_root`) on the path."""
    if root is not None and root not in sys.path:
        sys.path.append(root)
    return load_trainer(spec)


def trainer_source_files(function: Callable[..., Any]) -> list[Path]:
    """The source files the cache key of `function` covers.

    For a trainer in a package: every ``.py`` file of its top-level package (a helper the
    trainer imports lazily, inside a function, is covered too). For a top-level module:
    the module and every module already imported from its folder or below. Installed
    packages (site-packages) and dpaudit itself are left out: their versions are in the
    results' environment.
    """
    module = inspect.getmodule(function)
    if module is None or not getattr(module, "__file__", None):
        return []
    top_name = module.__name__.split(".")[0]
    top = sys.modules.get(top_name)
    top_file = getattr(top, "__file__", None)
    if top is not None and top_file and Path(top_file).name == "__init__.py":
        root = Path(top_file).resolve().parent
        files = set(root.rglob("*.py"))
    else:
        root = Path(module.__file__).resolve().parent
        files = {Path(module.__file__).resolve()}
        for loaded in list(sys.modules.values()):
            path = getattr(loaded, "__file__", None)
            if path:
                resolved = Path(path).resolve()
                if resolved.suffix == ".py" and resolved.is_relative_to(root):
                    files.add(resolved)
    return sorted(f for f in files if "site-packages" not in f.parts
                  and "dpaudit" not in f.relative_to(root).parts)


def trainer_source_hash(function: Callable[..., Any]) -> str:
    """A hash of the sources in `trainer_source_files` (names and contents)."""
    h = hashlib.sha256()
    files = trainer_source_files(function)
    if not files:
        return ""
    root = files[0].parent
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        h.update(str(path.relative_to(root) if path.is_relative_to(root)
                     else path.name).encode())
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()[:16]
