"""AuditResult -> the plain values the report template shows.

Everything here is defensive: optional fields may be missing, empty, NaN or (for the
free-form `config`, `environment`, `data` and `verdict` mappings) shaped differently by
other writers. Strings are left raw: the template escapes them (jinja2 autoescape).
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from dpaudit.results import ArmResult, AttackSummary, AuditResult

from . import _format as fmt
from ._reading import detail_rows, tradeoff_sentence
from .evidence import EvidenceRow, Status, compare_arm, format_confidence
from .figures_training import headline_accountant

__all__ = ["headline", "run_summary", "format_date", "arm_rows", "attack_rows",
           "evidence_view", "accounting_view", "Headline"]

_SAMPLING_NOTES = {
    "poisson": (
        "Batches were drawn by Poisson sampling: every example joins each step's batch "
        "independently with probability q = batch size / dataset size. This is exactly "
        "what the RDP and PLD accountants assume, so the stated epsilon applies."),
    "shuffle": (
        "Batches were fixed-size slices of a shuffled dataset. The accountants assume "
        "Poisson sampling; for shuffled batches the stated epsilon is the number commonly "
        "reported, but it is not a proven guarantee and can understate the real privacy "
        "loss (Chua et al., 2024, \"How private are DP-SGD implementations?\", "
        "arXiv:2403.17673). Use Poisson sampling for a guarantee that holds."),
}


@dataclass(frozen=True)
class Headline:
    """The one-line summary; `level` is "bug" or "info" (sets its colour)."""

    text: str
    level: str
    bugs: Sequence[Mapping[str, str]] = field(default_factory=tuple)


def headline(result: AuditResult, evidence: Sequence[EvidenceRow]) -> Headline:
    """E.g. "DP model: epsilon 2.4 at delta 1e-5; strongest attack AUC 0.51 vs 0.68 for
    the baseline"."""
    bugs = tuple(r for r in evidence if r.is_bug)
    dp_arms = [a for a in result.arms if a.epsilon is not None]
    other = [a for a in result.arms if a.epsilon is None]
    parts = []
    for arm in dp_arms:
        label = "DP model" if arm.name == "dp" else f"DP model '{arm.name}'"
        which = headline_accountant(arm)
        text = (f"{label}: epsilon {arm.epsilon:.3g} ({which}) at delta "
                f"{fmt.delta(arm.privacy.delta)}")
        if arm.privacy.sampling != "poisson":
            # The accountants price Poisson sampling; say so where the number is read.
            how = "shuffled" if arm.privacy.sampling == "shuffle" else (
                f"drawn by {arm.privacy.sampling!r}")
            text += f" (accounted as Poisson sampling; batches were {how})"
        text += f"; strongest attack AUC {_best_auc(arm)}"
        parts.append(text)
    for arm in other:
        if parts:
            parts[-1] += f" vs {_best_auc(arm)} for the {arm.name}"
        else:
            parts.append(f"{arm.name}: no DP guarantee; strongest attack AUC {_best_auc(arm)}")
    text = "; ".join(parts) or "The results hold no audited model."
    if result.verdict is None and dp_arms and other:
        # Without a gate the reader still needs the two facts a decision turns on.
        text += ". " + tradeoff_sentence(dp_arms[0], other[0])
    if bugs:
        return Headline(text, "bug", tuple(
            {"arm": r.arm, "attack": r.attack, "bound": _eps(r.lower_bound),
             "confidence": format_confidence(r.confidence),
             "epsilon": _eps(r.theoretical_epsilon)} for r in bugs))
    return Headline(text, "info")


def _best_auc(arm: ArmResult) -> str:
    best = arm.best_attack()
    return "n/a" if best is None else f"{best.auc:.2f}"


def run_summary(result: AuditResult, *,
                generated_at: _dt.datetime | None = None) -> list[tuple[str, str]]:
    """Dataset, model, set sizes, seed, date and versions as (label, text) pairs.

    The date is the run's when the results record one, else the report's.
    """
    cfg, env, data = _mapping(result.config), _mapping(result.environment), _mapping(result.data)
    first = _first_attack(result)
    rows = [
        ("Dataset", _pick((data, "dataset"), (data, "name"), (cfg, "dataset"),
                          (cfg, "data", "dataset"), (cfg, "data", "name"))),
        ("Model", _model(cfg, data)),
        ("Members (training set)", _pick((data, "n_members"), (data, "members"),
                                         default=_count(first.n_members if first else 0))),
        ("Non-members", _pick((data, "n_nonmembers"), (data, "n_non_members"),
                              (data, "nonmembers"),
                              default=_count(first.n_nonmembers if first else 0))),
        ("Shadow pool", _pick((data, "n_shadow"), (data, "n_shadow_pool"),
                              (data, "shadow_pool"), (data, "shadow"))),
        ("Test set", _pick((data, "n_test"), (data, "test"))),
        ("Seed", _pick((cfg, "seed"), (env, "seed"), (data, "seed"))),
        ("Date", _run_date(result, env)
         or (f"{format_date(generated_at)} (report; the run recorded no date)"
             if generated_at else None)),
        ("Data (SHA-256)", _short_hash(_mapping(result.provenance).get("data_sha256"))),
        *[(f"Model file, {arm}", _model_file(entry)) for arm, entry in
          _mapping(_mapping(result.provenance).get("models")).items() if _mapping(entry)],
        ("Versions", _versions(env)),
    ]
    return [(label, fmt.NA if value is None else fmt.value(value)) for label, value in rows]


def _run_date(result: AuditResult, env: Mapping[str, Any]) -> Any:
    """When the run started (provenance), or a date an older writer kept elsewhere."""
    when = _mapping(result.provenance).get("started_at")
    if when:
        return f"{format_date(when)} (run)"
    return format_date(_pick((env, "date"), (env, "timestamp"), (env, "started_at"),
                             (env, "created_at")))


def _short_hash(digest: Any) -> str | None:
    """The first 16 hex digits of a SHA-256 (the full one is in results.json)."""
    return f"{digest[:16]}…" if isinstance(digest, str) and len(digest) > 16 else digest


def _model_file(entry: Any) -> str:
    entry = _mapping(entry)
    return f"{fmt.value(entry.get('file'))} · sha256 {_short_hash(entry.get('sha256'))}"


def arm_rows(result: AuditResult) -> list[dict[str, str]]:
    """One row per arm of the privacy-utility table."""
    rows = []
    for arm in result.arms:
        u, p = arm.utility, arm.privacy
        dp = _is_dp(arm)
        best = arm.best_attack()
        tpr = _strongest(arm.attacks, lambda a: fmt.tpr_at(a.tpr_at_fpr, 0.01))
        bound = _strongest(arm.attacks, lambda a: a.epsilon_lower_bound)
        rows.append({
            "arm": arm.name,
            "dp": dp,
            "test_accuracy": fmt.pct(u.test_accuracy) if u else fmt.NA,
            "train_accuracy": fmt.pct(u.train_accuracy) if u else fmt.NA,
            "epsilon_rdp": _eps(p.epsilon_rdp) if dp else fmt.NA,
            "epsilon_pld": _eps(p.epsilon_pld) if dp else fmt.NA,
            "delta": fmt.delta(p.delta) if dp else fmt.NA,
            "noise": fmt.value(p.noise_multiplier) if dp else fmt.NA,
            "clip": fmt.value(p.l2_norm_clip) if dp else fmt.NA,
            "sampling": p.sampling if p else fmt.NA,
            "auc": fmt.num(best.auc) if best else fmt.NA,
            "auc_ci": fmt.interval(best.auc_ci) if best else fmt.NA,
            "auc_attack": best.name if best else "",
            "tpr_1": fmt.pct(tpr[1]) if tpr else fmt.NA,
            "tpr_attack": tpr[0].name if tpr else "",
            "bound": _eps(bound[1]) if bound else fmt.NA,
            "bound_confidence": (format_confidence(bound[0].confidence)
                                 if bound and fmt.finite(bound[0].confidence) else ""),
            "bound_attack": bound[0].name if bound else "",
        })
    return rows


def attack_rows(result: AuditResult) -> list[dict[str, str]]:
    """One row per (arm, attack) with every headline metric."""
    rows = []
    for arm in result.arms:
        for a in arm.attacks:
            rows.append({
                "arm": arm.name, "attack": a.name, "auc": fmt.num(a.auc),
                "auc_ci": fmt.interval(a.auc_ci), "advantage": fmt.num(a.advantage),
                "tpr_01": fmt.pct(fmt.tpr_at(a.tpr_at_fpr, 0.001)),
                "tpr_1": fmt.pct(fmt.tpr_at(a.tpr_at_fpr, 0.01)),
                "tpr_10": fmt.pct(fmt.tpr_at(a.tpr_at_fpr, 0.1)),
                "bound": _eps(a.epsilon_lower_bound),
                "confidence": format_confidence(a.confidence) if fmt.finite(a.confidence) else "",
                "method": a.epsilon_lower_bound_method or fmt.NA,
                "sizes": (f"{a.n_members} members / {a.n_nonmembers} non-members"
                          if a.n_members or a.n_nonmembers else ""),
                "details": detail_rows(a.details),
            })
    return rows


def evidence_view(result: AuditResult) -> list[dict[str, Any]]:
    """Per arm: the theoretical epsilon and the EvidenceRows of its attacks."""
    view = []
    for arm in result.arms:
        rows = compare_arm(arm)
        methods = list(dict.fromkeys(r.method for r in rows if r.method))
        view.append({
            "arm": arm.name,
            # One method for every attack is said once, under the table.
            "method": methods[0] if len(methods) == 1 else "",
            "epsilon": fmt.NA if arm.epsilon is None else f"{arm.epsilon:.3g}",
            "has_guarantee": arm.epsilon is not None,
            "delta": fmt.delta(arm.privacy.delta) if arm.privacy else fmt.NA,
            "rows": [{"row": r, "bound": _eps(r.lower_bound),
                      "bound_delta": fmt.delta(r.bound_delta),
                      "confidence": (format_confidence(r.confidence)
                                     if fmt.finite(r.confidence) else fmt.NA),
                      "fraction": fmt.pct(r.fraction, 0),
                      "method": r.method if len(methods) > 1 else "",
                      "css": _STATUS_CSS[r.status]} for r in rows],
        })
    return view


_STATUS_CSS = {Status.VIOLATION: "bad", Status.NOT_COMPARABLE: "warn",
               Status.CONSISTENT: "ok", Status.NO_EVIDENCE: "ok",
               Status.NO_GUARANTEE: "neutral", Status.UNAVAILABLE: "neutral",
               Status.ESTIMATE: "neutral"}


def accounting_view(result: AuditResult) -> list[dict[str, Any]]:
    """Per arm: the DP settings, the accountant's note and what the sampling implies."""
    view = []
    for arm in result.arms:
        p = arm.privacy
        if p is None:
            view.append({"arm": arm.name, "settings": [], "note": "",
                         "sampling_note": "Trained without DP-SGD: there is no accounting."})
            continue
        q = p.batch_size / p.dataset_size if p.dataset_size > 0 else math.nan
        training = [("batch size", str(p.batch_size)),
                    ("dataset size", str(p.dataset_size) if p.dataset_size else fmt.NA),
                    ("sampling", p.sampling),
                    ("sampling rate q", f"{q:.4g}" if math.isfinite(q) else fmt.NA),
                    ("steps", str(p.steps)), ("epochs", fmt.value(p.epochs))]
        if not _is_dp(arm):
            view.append({"arm": arm.name, "settings": training, "note": p.accounting_note,
                         "sampling_note": "Trained without DP noise: there is no privacy "
                                          "guarantee to account for."})
            continue
        dp_settings = [("noise multiplier", fmt.value(p.noise_multiplier)),
                       ("l2_norm_clip", fmt.value(p.l2_norm_clip)),
                       ("num_microbatches", fmt.value(p.num_microbatches))]
        accountant = [("delta", fmt.delta(p.delta)), ("epsilon (RDP)", _eps(p.epsilon_rdp)),
                      ("epsilon (PLD)", _eps(p.epsilon_pld))]
        note = _SAMPLING_NOTES.get(p.sampling, (
            f"Unknown sampling scheme {p.sampling!r}: the accountants assume Poisson "
            "sampling, so the stated epsilon may not apply."))
        view.append({"arm": arm.name, "settings": dp_settings + training + accountant,
                     "note": p.accounting_note, "sampling_note": note})
    return view


def _is_dp(arm: ArmResult) -> bool:
    """Trained with DP-SGD: noise was added, or the accountant priced the run."""
    p = arm.privacy
    return p is not None and (arm.epsilon is not None
                              or (fmt.finite(p.noise_multiplier) and p.noise_multiplier > 0))


def _count(n: int) -> str | None:
    """A set size; None for 0, which older writers stored for "not recorded"."""
    return str(n) if n else None




def _eps(x: float | None) -> str:
    return f"{x:.3g}" if fmt.finite(x) else fmt.NA




def _strongest(attacks: Sequence[AttackSummary], key) -> tuple[AttackSummary, float] | None:
    scored = [(a, key(a)) for a in attacks]
    scored = [(a, v) for a, v in scored if fmt.finite(v)]
    return max(scored, key=lambda av: av[1]) if scored else None


def _first_attack(result: AuditResult) -> AttackSummary | None:
    for arm in result.arms:
        for a in arm.attacks:
            return a
    return None


def _mapping(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _pick(*paths: tuple, default: Any = None) -> Any:
    """The first present, non-empty value among nested-key paths; a mapping with a
    "name" counts as its name."""
    for mapping, *keys in paths:
        value: Any = mapping
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, Mapping):
            value = value.get("name")
        if value not in (None, "", [], {}):
            return value
    return default


def _model(cfg: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
    trainer = _pick((cfg, "model", "trainer"))
    if trainer:
        return f"{trainer} (own trainer)"
    return _pick((cfg, "model"), (data, "model"))


def format_date(value: Any) -> Any:
    """A datetime or ISO-8601 timestamp as "2025-01-02 03:04 UTC"; others unchanged."""
    if isinstance(value, _dt.datetime):
        when = value
    elif not isinstance(value, str) or len(value) <= 10:  # not a string, or a bare date
        return value
    else:
        try:
            when = _dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if when.tzinfo is not None:
        when = when.astimezone(_dt.timezone.utc)
        return when.strftime("%Y-%m-%d %H:%M UTC")
    return when.strftime("%Y-%m-%d %H:%M")


_VERSION_KEYS = ("dpaudit", "tensorflow", "keras", "dp_accounting", "numpy")


def _versions(env: Mapping[str, Any]) -> str | None:
    """"python 3.11.7, dpaudit 0.1.0, ..." from env["packages"] or env["versions"] (a
    mapping), else from well-known top-level keys."""
    versions = env.get("packages", env.get("versions"))
    if not isinstance(versions, Mapping):
        versions = {k: env[k] for k in _VERSION_KEYS if k in env}
    if "python" in env and not isinstance(env["python"], Mapping):
        versions = {"python": env["python"], **versions}
    text = ", ".join(f"{k} {fmt.value(v)}" for k, v in versions.items())
    return text or None
