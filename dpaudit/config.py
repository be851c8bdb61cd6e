"""The audit configuration: frozen dataclasses loaded from TOML plus CLI overrides.

A configuration is validated once, when it is built; every error names the file (or
command-line option) and the field, e.g.
``audit.toml: field 'dp.delta' must be in (0, 1), got 2.0``. Unknown sections and
keys are errors too, so a typo never silently falls back to a default.

Each field's command-line flag lives in its metadata (`FLAGS` lists them all), so
`dpaudit train-and-attack` can override every setting. See examples/audit.toml for a
commented file with every field.

Example:
    >>> cfg = load_config(None, {"training.epochs": 5})
    >>> cfg.training.epochs, cfg.dp.noise_multiplier
    (5, 1.5)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

from dpaudit._config_rules import _at_least, _choice, _coerce, _Invalid, _positive
from dpaudit.accounting.plan import SAMPLINGS
from dpaudit.data.splits import SCALINGS
from dpaudit.errors import InputError
from dpaudit.training.models import MODEL_NAMES
from dpaudit.files import read_toml_input

__all__ = ["ATTACK_NAMES", "OPTIMIZERS", "DEFAULT_NOISE_MULTIPLIER", "DataConfig",
           "ModelConfig", "TrainingConfig", "DPConfig", "AttacksConfig", "OutputConfig",
           "ExecutionConfig", "AuditConfig", "FLAGS", "load_config", "config_from_dict"]

ATTACK_NAMES = ("loss_threshold", "confidence", "modified_entropy", "shadow", "lira",
                "lira_offline", "rmia")
OPTIMIZERS = ("sgd", "adam", "adagrad")
DATASET_KINDS = ("digits", "mnist", "mnist:train", "mnist:test")
DATASET_PREFIXES = ("csv:", "npz:")
# Used when neither noise_multiplier nor target_epsilon is given.
DEFAULT_NOISE_MULTIPLIER = 1.5


def _opt(default: Any, kind: str, flag: str, help: str) -> Any:  # noqa: A002 - click's name
    """A config field: `kind` in int|float|str|bool|ints|strs, '?' suffix = may be None."""
    default_factory = None
    if isinstance(default, tuple):
        default_factory, default = (lambda d=default: d), dataclasses.MISSING
    meta = {"kind": kind, "flag": flag, "help": help}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class DataConfig:
    """Which examples, and how many of them play each role."""

    SECTION: ClassVar[str] = "data"
    dataset: str = _opt("digits", "str", "--dataset",
                        "digits | csv:PATH | npz:PATH | mnist")
    label_column: str = _opt("label", "str", "--label-column", "label column of a CSV dataset")
    n_members: int = _opt(450, "int", "--members",
                          "training examples of the target (= number of non-members)")
    n_shadow_pool: int | None = _opt(None, "int?", "--shadow-pool",
                                     "attacker's examples for shadow models (default 2x members)")
    n_test: int | None = _opt(None, "int?", "--test-size",
                              "test-set size (default: the rest, at most 10000)")
    scaling: str = _opt("auto", "str", "--scaling", "auto | none | minmax | standard")
    stratify: bool = _opt(True, "bool", "--stratify",
                          "same label histogram for members and non-members")

    def __post_init__(self) -> None:
        ds = self.dataset
        if ds not in DATASET_KINDS and not (ds.startswith(DATASET_PREFIXES)
                                            and len(ds) > 4):
            raise _Invalid("data.dataset", "must be digits, mnist, csv:PATH or npz:PATH", ds)
        if not self.label_column:
            raise _Invalid("data.label_column", "must not be empty", self.label_column)
        _at_least("data.n_members", self.n_members, 2)
        if self.n_shadow_pool is not None:
            _at_least("data.n_shadow_pool", self.n_shadow_pool, 0)
        if self.n_test is not None:
            _at_least("data.n_test", self.n_test, 1)
        _choice("data.scaling", self.scaling, SCALINGS)


@dataclass(frozen=True)
class ModelConfig:
    """The architecture, or your own training function."""

    SECTION: ClassVar[str] = "model"
    name: str = _opt("mlp", "str", "--model", "logreg | mlp | cnn")
    hidden: tuple[int, ...] = _opt((256, 256), "ints", "--hidden",
                                   "mlp layer widths, comma-separated")
    trainer: str | None = _opt(None, "str?", "--trainer",
                               "module:function(x, y, *, seed, private) -> trained keras.Model")

    def __post_init__(self) -> None:
        _choice("model.name", self.name, MODEL_NAMES)
        if any(w < 1 for w in self.hidden):
            raise _Invalid("model.hidden", "must be positive layer widths", list(self.hidden))
        if self.trainer is not None:
            module, _, function = self.trainer.partition(":")
            if not module or not function or not function.isidentifier():
                raise _Invalid("model.trainer", "must look like 'module:function'",
                               self.trainer)


@dataclass(frozen=True)
class TrainingConfig:
    """The recipe both arms share (the dp arm adds clipping and noise)."""

    SECTION: ClassVar[str] = "training"
    optimizer: str = _opt("adam", "str", "--optimizer", "sgd | adam | adagrad")
    learning_rate: float = _opt(0.005, "float", "--learning-rate", "learning rate")
    epochs: int = _opt(30, "int", "--epochs", "training epochs")
    batch_size: int = _opt(50, "int", "--batch-size",
                           "batch size (expected batch size under Poisson sampling)")

    def __post_init__(self) -> None:
        _choice("training.optimizer", self.optimizer, OPTIMIZERS)
        _positive("training.learning_rate", self.learning_rate)
        _at_least("training.epochs", self.epochs, 1)
        _at_least("training.batch_size", self.batch_size, 1)


@dataclass(frozen=True)
class DPConfig:
    """DP-SGD settings of the dp arm; give noise_multiplier or target_epsilon, not both."""

    SECTION: ClassVar[str] = "dp"
    l2_norm_clip: float = _opt(3.0, "float", "--l2-norm-clip", "per-example gradient clip norm")
    noise_multiplier: float | None = _opt(None, "float?", "--noise-multiplier",
                                          f"noise std / clip (default "
                                          f"{DEFAULT_NOISE_MULTIPLIER})")
    target_epsilon: float | None = _opt(None, "float?", "--target-epsilon",
                                        "calibrate the noise to this epsilon instead")
    num_microbatches: int | None = _opt(None, "int?", "--num-microbatches",
                                        "microbatches per batch (default: one per example)")
    delta: float = _opt(1e-5, "float", "--delta", "delta of (epsilon, delta)-DP")
    sampling: str = _opt("poisson", "str", "--sampling",
                         "poisson | shuffle (both arms; poisson matches the accountant)")

    def __post_init__(self) -> None:
        _positive("dp.l2_norm_clip", self.l2_norm_clip)
        if self.noise_multiplier is not None and self.target_epsilon is not None:
            raise _Invalid("dp.noise_multiplier",
                           "and 'dp.target_epsilon' cannot both be set: give the noise, or the "
                           "epsilon to calibrate it to")
        if self.noise_multiplier is None and self.target_epsilon is None:
            object.__setattr__(self, "noise_multiplier", DEFAULT_NOISE_MULTIPLIER)
        if self.noise_multiplier is not None and not (
                math.isfinite(self.noise_multiplier) and self.noise_multiplier >= 0):
            raise _Invalid("dp.noise_multiplier", "must be >= 0", self.noise_multiplier)
        if self.target_epsilon is not None:
            _positive("dp.target_epsilon", self.target_epsilon)
        if self.num_microbatches is not None:
            _at_least("dp.num_microbatches", self.num_microbatches, 1)
        if not (0 < self.delta < 1):
            raise _Invalid("dp.delta", "must be in (0, 1)", self.delta)
        _choice("dp.sampling", self.sampling, SAMPLINGS)


@dataclass(frozen=True)
class AttacksConfig:
    """Which membership-inference attacks run against each arm."""

    SECTION: ClassVar[str] = "attacks"
    names: tuple[str, ...] = _opt(("loss_threshold", "lira", "lira_offline", "rmia"), "strs",
                                  "--attacks", "comma-separated: " + ", ".join(ATTACK_NAMES))
    n_shadow: int = _opt(4, "int", "--shadow-models", "shadow models per arm")
    n_reference: int = _opt(8, "int", "--reference-models",
                            "reference models per arm for lira, lira_offline and rmia")
    shadow_per_class: bool = _opt(False, "bool", "--shadow-per-class",
                                  "one attack model per class (Shokri et al.)")
    confidence: float = _opt(0.95, "float", "--confidence",
                             "confidence level of intervals and epsilon lower bounds")
    top_exposed: int = _opt(10, "int", "--top-exposed", "most exposed members to list")

    def __post_init__(self) -> None:
        if not self.names:
            raise _Invalid("attacks.names", "must name at least one attack", [])
        for name in self.names:
            _choice("attacks.names", name, ATTACK_NAMES)
        if len(set(self.names)) != len(self.names):
            raise _Invalid("attacks.names", "must not repeat an attack", list(self.names))
        _at_least("attacks.n_shadow", self.n_shadow, 1)
        _at_least("attacks.n_reference", self.n_reference, 1)
        if not (0 < self.confidence < 1):
            raise _Invalid("attacks.confidence", "must be in (0, 1)", self.confidence)
        _at_least("attacks.top_exposed", self.top_exposed, 0)


@dataclass(frozen=True)
class OutputConfig:
    """Where results go."""

    SECTION: ClassVar[str] = "output"
    dir: str = _opt("dpaudit-out", "str", "--out", "output directory")
    save_models: bool = _opt(True, "bool", "--save-models",
                             "save trained models (.keras), which also makes runs resumable")
    report: bool = _opt(True, "bool", "--report", "write report.html")

    def __post_init__(self) -> None:
        if not self.dir:
            raise _Invalid("output.dir", "must not be empty", self.dir)


@dataclass(frozen=True)
class ExecutionConfig:
    """Where the audit's many trainings run.

    The executor never changes a trained model. `models_per_task` fixes how reference
    models are grouped into stacks whatever the executor, so a local and a Ray run train
    the same models; stacks of other sizes train the same models up to float rounding.
    """

    SECTION: ClassVar[str] = "execution"
    executor: str = _opt("local", "str", "--executor",
                         "local | ray (a local Ray) | ray:ADDRESS (an existing cluster)")
    models_per_task: int = _opt(8, "int", "--models-per-task",
                                "reference models stacked into one training task, the unit "
                                "an executor runs: smaller spreads them over more workers")

    def __post_init__(self) -> None:
        _at_least("execution.models_per_task", self.models_per_task, 1)
        kind, sep, address = self.executor.partition(":")
        if kind not in ("local", "ray") or (sep and (kind == "local" or not address)):
            raise _Invalid("execution.executor", "must be local, ray or ray:ADDRESS",
                           self.executor)


@dataclass(frozen=True)
class AuditConfig:
    """A whole audit. `to_dict()` is what results.json records as `config`."""

    seed: int = _opt(0, "int", "--seed", "seed of the split, initial weights, sampling and noise")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    dp: DPConfig = field(default_factory=DPConfig)
    attacks: AttacksConfig = field(default_factory=AttacksConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)

    def __post_init__(self) -> None:
        _at_least("seed", self.seed, 0)
        if self.seed >= 2**31:
            raise _Invalid("seed", "must be < 2**31", self.seed)
        if "shadow" in self.attacks.names and self.data.n_shadow_pool == 0:
            raise _Invalid("data.n_shadow_pool", "must be > 0 when the shadow attack runs", 0)
        if self.model.trainer is not None and self.dp.target_epsilon is not None:
            raise _Invalid("dp.target_epsilon", "cannot be used with model.trainer (the trainer "
                           "picks its own noise): give dp.noise_multiplier, the noise it uses")
        mb, batch = self.dp.num_microbatches, self.training.batch_size
        if mb is not None and self.dp.sampling == "poisson" and mb != batch:
            raise _Invalid("dp.num_microbatches", "must be unset (one per example) with poisson "
                           "sampling, whose batch sizes vary; or use dp.sampling = 'shuffle'", mb)
        if mb is not None and self.dp.sampling == "shuffle" and batch % mb:
            raise _Invalid("dp.num_microbatches",
                           f"must divide training.batch_size ({batch})", mb)
        if batch > self.data.n_members:
            raise _Invalid("training.batch_size",
                           f"must be <= data.n_members ({self.data.n_members})", batch)
        pool = self.data.n_shadow_pool
        if "shadow" in self.attacks.names and pool is not None and pool // 2 < batch:
            # Each shadow model trains on half the pool, with the target's batch size.
            raise _Invalid("data.n_shadow_pool", f"must be >= 2 * training.batch_size "
                           f"({2 * batch}): each shadow model trains on half of it", pool)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists, not tuples), the form TOML and JSON take."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def fingerprint(self) -> str:
        """Hash of every setting that changes a trained model (not attacks or output)."""
        raw = self.to_dict()
        relevant = {k: raw[k] for k in ("seed", "data", "model", "training", "dp")}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


_SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig,
                              "training": TrainingConfig, "dp": DPConfig,
                              "attacks": AttacksConfig, "output": OutputConfig,
                              "execution": ExecutionConfig}


def _flags() -> dict[str, tuple[str, str, str]]:
    """dotted field -> (flag, kind, help), for every setting."""
    flags = {"seed": ("--seed", "int", AuditConfig.__dataclass_fields__["seed"].metadata["help"])}
    for section, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            flags[f"{section}.{f.name}"] = (f.metadata["flag"], f.metadata["kind"],
                                            f.metadata["help"])
    return flags


FLAGS: dict[str, tuple[str, str, str]] = _flags()


def load_config(path: str | Path | None = None,
                overrides: Mapping[str, Any] | None = None) -> AuditConfig:
    """Reads a TOML file (optional), applies overrides, validates once.

    Args:
      path: TOML file with a top-level `seed` and sections data, model, training, dp,
        attacks, output; None for the defaults.
      overrides: dotted field -> value, e.g. {"dp.delta": 1e-6}; values of None are
        ignored (an option not given on the command line).

    Raises:
      InputError: missing or unparsable file, unknown section or key, a value of the
        wrong type or out of range; the message names the file or option and the field.
    """
    raw: dict[str, Any] = {}
    source = "config"
    if path is not None:
        source = str(path)
        raw = read_toml_input(path, "config file")
    sources: dict[str, str] = {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in FLAGS:
            raise InputError(f"unknown setting {key!r}; expected one of {', '.join(FLAGS)}")
        section, _, name = key.rpartition(".")
        target = raw.setdefault(section, {}) if section else raw
        if not isinstance(target, dict):
            raise InputError(f"{source}: '{section}' must be a table")
        target[name] = value
        sources[key] = f"option {FLAGS[key][0]}"
    return config_from_dict(raw, source=source, sources=sources)


def config_from_dict(raw: Mapping[str, Any], *, source: str = "config",
                     sources: Mapping[str, str] | None = None) -> AuditConfig:
    """Builds and validates an AuditConfig from nested dicts (e.g. results.json's config)."""
    sources = dict(sources or {})
    try:
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "seed":
                kwargs["seed"] = _coerce("seed", value, "int")
            elif key in _SECTIONS:
                if not isinstance(value, Mapping):
                    raise _Invalid(key, "must be a table", value)
                kwargs[key] = _section(key, _SECTIONS[key], value)
            else:
                raise _Invalid(key, "is not a known setting; expected seed or sections "
                               + ", ".join(_SECTIONS))
        return AuditConfig(**kwargs)
    except _Invalid as e:
        where = sources.get(e.key, source)
        raise InputError(f"{where}: {e}") from None


def _section(name: str, cls: type, raw: Mapping[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in fields:
            raise _Invalid(f"{name}.{key}", "is not a known setting; expected one of "
                           + ", ".join(fields))
        values[key] = _coerce(f"{name}.{key}", value, fields[key].metadata["kind"])
    return cls(**values)
