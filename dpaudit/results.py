"""AuditResult: the results contract (results.json), with load/save and a table view.

No TensorFlow here: the report and the gate read results through this module only.
NaN and infinities are written as JSON `null` (strict JSON) and read back as NaN, with one
exception: an arm's theoretical epsilon (`privacy.epsilon_rdp`, `privacy.epsilon_pld` and
the entries of `privacy.epsilon_per_epoch`) that is +infinity (DP-SGD without noise: a DP
arm with no guarantee) is written as the string ``"inf"`` and read back as ``math.inf``,
so it stays distinct from ``null`` ("not computed" / no DP claim).

Schema history:
  1 - first version. Later optional fields (old files load without them):
      `provenance` (run timestamps, data and model hashes), `ArmResult.leakage_per_epoch`,
      `PrivacyInfo.epsilon_per_epoch_accountant` and `PrivacyInfo.epsilon_delta_curve`,
      `AttackSummary.per_class_counts`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from dpaudit.attacks.metrics import FPR_LEVELS as _ATTACK_FPR_LEVELS
from dpaudit.errors import InputError
from dpaudit.files import atomic_write_text, read_text_input
from dpaudit.overview import result_dataframe, result_html, result_repr
from dpaudit.schema import INFINITY_STRINGS, validate_results

__all__ = [
    "SCHEMA_VERSION",
    "AttackSummary",
    "PrivacyInfo",
    "Utility",
    "ArmResult",
    "AuditResult",
    "load_results",
    "save_results",
]

SCHEMA_VERSION = 1
# Older schema versions that still load (upgraded in `_upgrade`).
_KNOWN_SCHEMA_VERSIONS = (1,)
# The false-positive rates at which every attack reports its true-positive rate, as
# results.json keys: the attacks' own levels, 0.001 -> "0.001".
FPR_LEVELS = tuple(f"{level:g}" for level in _ATTACK_FPR_LEVELS)


@dataclass(frozen=True)
class AttackSummary:
    """One attack's metrics against one arm.

    Attributes:
      name: attack name, e.g. "loss_threshold", "shadow", "canary_one_run".
      auc, auc_ci: ROC AUC and its (lower, upper) confidence interval.
      advantage: max over thresholds of TPR - FPR.
      tpr_at_fpr: {"0.001": tpr, "0.01": tpr, "0.1": tpr}; NaN where the number of
        non-members cannot resolve that FPR.
      epsilon_lower_bound: empirical epsilon lower bound at `delta`, holding with
        probability `confidence`.
      roc: {"fpr": [...], "tpr": [...]}, downsampled for plotting.
      per_class_auc: {"<class label>": auc} on the target's examples of each class.
      top_exposed: the most exposed members: [{"id": example id, "score": score}, ...].
      score_histogram: {"edges": [...], "members": [...], "nonmembers": [...]} counts.
      details: attack-specific extras (e.g. number of shadow models, canaries, runs).
      per_class_counts: {"<class label>": [n_members, n_nonmembers]} behind
        `per_class_auc`, so the report can put an interval on each class's AUC.
      is_estimate: True when `epsilon_lower_bound` is a model-based estimate, not a bound
        (e.g. a Gaussian-DP value from scores that are not Gaussian by construction); an
        estimate never fires the "contradicted by evidence" rule (`dpaudit.evidence`).
      rule_epsilon_lower_bound, rule_confidence: the same bound at the stricter confidence
        the contradiction rule uses (None in older results: the rule then uses
        `epsilon_lower_bound`).
      ceiling: the largest epsilon this audit's design could prove at `rule_confidence`
        (None when not computed).
      conclusive: False when the claimed epsilon is at or above `ceiling`, so the audit
        could not have contradicted it; None when not assessed.
    """

    name: str
    auc: float
    auc_ci: tuple[float, float]
    advantage: float
    tpr_at_fpr: Mapping[str, float]
    epsilon_lower_bound: float
    confidence: float
    n_members: int
    n_nonmembers: int
    roc: Mapping[str, Sequence[float]] = field(default_factory=dict)
    delta: float | None = None
    epsilon_lower_bound_method: str = ""
    per_class_auc: Mapping[str, float] = field(default_factory=dict)
    top_exposed: Sequence[Mapping[str, Any]] = ()
    score_histogram: Mapping[str, Sequence[float]] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    per_class_counts: Mapping[str, Sequence[int]] = field(default_factory=dict)
    is_estimate: bool = False
    rule_epsilon_lower_bound: float | None = None
    rule_confidence: float | None = None
    ceiling: float | None = None
    conclusive: bool | None = None


@dataclass(frozen=True)
class PrivacyInfo:
    """The DP settings an arm was trained with and what the accountant makes of them.

    For a non-DP arm, `noise_multiplier` is 0 and both epsilons are None.
    `epsilon_per_epoch` holds the epsilon after each epoch (for the report), NaN for
    epochs that were not priced, from the accountant named in
    `epsilon_per_epoch_accountant` ("rdp" or "pld"; "" in older files, which stored RDP).
    `epsilon_delta_curve` is {"delta": [...], "epsilon": [...]}: the accountant's
    epsilon at each delta of a grid, for the final model (the report draws the highest
    ROC the guarantee allows from it).
    """

    noise_multiplier: float
    l2_norm_clip: float | None
    num_microbatches: int | None
    batch_size: int
    sampling: str  # "poisson" | "shuffle"
    steps: int
    epochs: float
    dataset_size: int
    delta: float | None
    epsilon_rdp: float | None
    epsilon_pld: float | None
    accounting_note: str = ""
    epsilon_per_epoch: Sequence[float] = ()
    epsilon_per_epoch_accountant: str = ""
    epsilon_delta_curve: Mapping[str, Sequence[float]] = field(default_factory=dict)

    @property
    def epsilon(self) -> float | None:
        """The epsilon to hold evidence against: the tighter of RDP and PLD.

        Both are valid upper bounds on the same mechanism, so the smaller one is the
        claim an attack must not beat. None when neither was computed.
        """
        values = [e for e in (self.epsilon_pld, self.epsilon_rdp)
                  if e is not None and not math.isnan(e)]
        return min(values) if values else None


@dataclass(frozen=True)
class Utility:
    """Accuracy and mean loss on the training (member) and test sets."""

    train_accuracy: float
    test_accuracy: float
    train_loss: float
    test_loss: float


@dataclass(frozen=True)
class ArmResult:
    """One audited model: `baseline`, `dp`, or `model` for `dpaudit attack`.

    `leakage_per_epoch` records a cheap attack on the target during its training:
    {"attack": name, "epoch": [...], "auc": [...], "tpr_at_fpr": {"0.01": [...], ...}}
    (empty when not recorded, e.g. for a model reused from an earlier run).
    """

    name: str
    utility: Utility | None
    privacy: PrivacyInfo | None
    attacks: Sequence[AttackSummary]
    history: Mapping[str, Sequence[float]] = field(default_factory=dict)
    leakage_per_epoch: Mapping[str, Any] = field(default_factory=dict)

    @property
    def epsilon(self) -> float | None:
        """The theoretical epsilon to hold evidence against (see PrivacyInfo.epsilon)."""
        return None if self.privacy is None else self.privacy.epsilon

    def best_attack(self) -> AttackSummary | None:
        """The attack with the highest AUC (NaN AUCs ignored)."""
        valid = [a for a in self.attacks if not math.isnan(a.auc)]
        return max(valid, key=lambda a: a.auc) if valid else None


@dataclass(frozen=True)
class AuditResult:
    """Everything one audit produced; see docs/architecture.md "The results contract".

    Attributes:
      config: the configuration as run, after defaults.
      environment: versions, seed, device, date.
      data: dataset name and the split: sizes of members, non-members, shadow pool,
        test set, and the seed that drew them.
      arms: one ArmResult per audited model.
      verdict: the gate's verdict when a gate ran (see dpaudit.gate.verdict).
      timings: seconds per phase.
      provenance: when the run happened and exactly what it audited: {"started_at",
        "finished_at" (ISO-8601 UTC), "data_sha256", "models": {arm: {"file", "sha256"}}};
        empty in older files.
    """

    config: Mapping[str, Any]
    environment: Mapping[str, Any]
    data: Mapping[str, Any]
    arms: Sequence[ArmResult]
    verdict: Mapping[str, Any] | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return result_repr(self)

    def _repr_html_(self) -> str:
        return result_html(self)

    def arm(self, name: str) -> ArmResult:
        for arm in self.arms:
            if arm.name == name:
                return arm
        known = ", ".join(a.name for a in self.arms) or "none"
        raise InputError(f"no arm named {name!r} in the results (arms: {known})")

    def with_verdict(self, verdict: Mapping[str, Any] | None) -> "AuditResult":
        return dataclasses.replace(self, verdict=verdict)

    def to_dict(self) -> dict[str, Any]:
        raw = dataclasses.asdict(self)
        for arm in raw["arms"]:
            privacy = arm.get("privacy")
            if privacy:
                for key in ("epsilon_rdp", "epsilon_pld"):
                    privacy[key] = _epsilon_out(privacy[key])
                privacy["epsilon_per_epoch"] = [_epsilon_out(e)
                                                for e in privacy["epsilon_per_epoch"]]
        return _jsonable(raw)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "results") -> "AuditResult":
        validate_results(raw, source, _KNOWN_SCHEMA_VERSIONS)
        try:
            raw = _upgrade(dict(raw), source)
            arms = tuple(_arm_from_dict(a) for a in raw["arms"])
            return cls(
                config=raw.get("config") or {},
                environment=raw.get("environment") or {},
                data=raw.get("data") or {},
                arms=arms,
                verdict=raw.get("verdict"),
                timings=raw.get("timings") or {},
                schema_version=SCHEMA_VERSION,
                provenance=dict(raw.get("provenance") or {}),
            )
        except InputError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise InputError(f"{source}: not a dpaudit results file "
                             f"({type(e).__name__}: {e})") from None

    def to_dataframe(self):
        """One row per (arm, attack) with the headline numbers; needs pandas."""
        return result_dataframe(self)


def save_results(result: AuditResult, path: str | os.PathLike) -> Path:
    """Writes `result` as strict JSON, atomically. Returns the path."""
    path = Path(path)
    atomic_write_text(path, result.to_json())
    return path


def load_results(path: str | os.PathLike) -> AuditResult:
    """Reads a results.json; raises InputError naming the file on any problem."""
    path = Path(path)
    try:
        raw = json.loads(read_text_input(path, "results file"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a JSON object at the top level")
    return AuditResult.from_dict(raw, source=str(path))


def _upgrade(raw: dict[str, Any], source: str) -> dict[str, Any]:
    version = raw.get("schema_version")
    if version not in _KNOWN_SCHEMA_VERSIONS:
        raise InputError(f"{source}: field 'schema_version' must be one of "
                         f"{list(_KNOWN_SCHEMA_VERSIONS)}, got {version!r}")
    # Future versions: convert older layouts here, one step per version.
    return raw


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


# The contract's spelling of an infinite theoretical epsilon (see the module docstring).
INFINITE_EPSILON = "inf"


def _epsilon_out(value: Any) -> Any:
    if isinstance(value, float) and value == math.inf:
        return INFINITE_EPSILON
    return value


def _epsilon_in(value: Any) -> float | None:
    # dpaudit writes "inf"; the schema also accepts the other spellings of +infinity.
    if value == INFINITE_EPSILON or value in INFINITY_STRINGS:
        return math.inf
    if isinstance(value, str):
        raise ValueError(f"an epsilon must be a number, {INFINITE_EPSILON!r} or null, "
                         f"got {value!r}")
    return None if value is None else float(value)


def _attack_from_dict(raw: Mapping[str, Any]) -> AttackSummary:
    ci = raw.get("auc_ci") or (None, None)
    return AttackSummary(
        name=str(raw["name"]),
        auc=_float(raw["auc"]),
        auc_ci=(_float(ci[0]), _float(ci[1])),
        advantage=_float(raw.get("advantage")),
        tpr_at_fpr={str(k): _float(v) for k, v in (raw.get("tpr_at_fpr") or {}).items()},
        epsilon_lower_bound=_float(raw.get("epsilon_lower_bound")),
        confidence=_float(raw.get("confidence")),
        n_members=int(raw.get("n_members") or 0),
        n_nonmembers=int(raw.get("n_nonmembers") or 0),
        roc={k: [_float(x) for x in v] for k, v in (raw.get("roc") or {}).items()},
        delta=_opt_float(raw.get("delta")),
        epsilon_lower_bound_method=str(raw.get("epsilon_lower_bound_method") or ""),
        per_class_auc={str(k): _float(v) for k, v in (raw.get("per_class_auc") or {}).items()},
        top_exposed=tuple(raw.get("top_exposed") or ()),
        score_histogram={k: [_float(x) for x in v]
                         for k, v in (raw.get("score_histogram") or {}).items()},
        details=dict(raw.get("details") or {}),
        per_class_counts={str(k): [int(n) for n in v]
                          for k, v in (raw.get("per_class_counts") or {}).items()},
        is_estimate=bool(raw.get("is_estimate", False)),
        rule_epsilon_lower_bound=_opt_float(raw.get("rule_epsilon_lower_bound")),
        rule_confidence=_opt_float(raw.get("rule_confidence")),
        ceiling=_opt_float(raw.get("ceiling")),
        conclusive=None if raw.get("conclusive") is None else bool(raw["conclusive"]),
    )


def _arm_from_dict(raw: Mapping[str, Any]) -> ArmResult:
    utility = raw.get("utility")
    privacy = raw.get("privacy")
    return ArmResult(
        name=str(raw["name"]),
        utility=None if utility is None else Utility(
            **{k: _float(utility.get(k)) for k in
               ("train_accuracy", "test_accuracy", "train_loss", "test_loss")}),
        privacy=None if privacy is None else PrivacyInfo(
            noise_multiplier=_float(privacy.get("noise_multiplier")),
            l2_norm_clip=_opt_float(privacy.get("l2_norm_clip")),
            num_microbatches=(None if privacy.get("num_microbatches") is None
                              else int(privacy["num_microbatches"])),
            batch_size=int(privacy["batch_size"]),
            sampling=str(privacy.get("sampling") or "poisson"),
            steps=int(privacy.get("steps") or 0),
            epochs=_float(privacy.get("epochs")),
            dataset_size=int(privacy.get("dataset_size") or 0),
            delta=_opt_float(privacy.get("delta")),
            epsilon_rdp=_epsilon_in(privacy.get("epsilon_rdp")),
            epsilon_pld=_epsilon_in(privacy.get("epsilon_pld")),
            accounting_note=str(privacy.get("accounting_note") or ""),
            epsilon_per_epoch=tuple(math.nan if (e := _epsilon_in(x)) is None else e
                                    for x in privacy.get("epsilon_per_epoch") or ()),
            epsilon_per_epoch_accountant=str(privacy.get("epsilon_per_epoch_accountant") or ""),
            epsilon_delta_curve={k: [_float(x) for x in v] for k, v in
                                 (privacy.get("epsilon_delta_curve") or {}).items()},
        ),
        attacks=tuple(_attack_from_dict(a) for a in raw.get("attacks") or ()),
        history={k: [_float(x) for x in v] for k, v in (raw.get("history") or {}).items()},
        leakage_per_epoch=dict(raw.get("leakage_per_epoch") or {}),
    )


def _jsonable(value: Any) -> Any:
    """Converts tuples, numpy scalars and non-finite floats into strict-JSON values."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy
        return _jsonable(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)
