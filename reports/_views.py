"""More AuditResult -> template values: the gate's verdict, exposed examples, leakage per epoch.

As defensive as `reports._context`: optional fields may be missing or malformed.
"""

from __future__ import annotations

from typing import Any, Mapping

from dpaudit.results import FPR_LEVELS, AuditResult

from . import _format as fmt

__all__ = ["verdict_view", "exposed_view", "leakage_rows", "MAX_EXPOSED"]

# How many of the most exposed examples to list per (arm, attack).
MAX_EXPOSED = 10


def _mapping(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _score(x: Any) -> str:
    return f"{x:.4g}" if fmt.finite(x) else fmt.NA


def _num_or_text(x: Any) -> str:
    if fmt.finite(x):
        return f"{x:.4g}"
    return fmt.value(x) if x is not None and not isinstance(x, float) else fmt.NA


def verdict_view(verdict: Any) -> dict[str, Any] | None:
    """The gate's verdict (Verdict.to_dict()) in displayable form; None when no gate ran."""
    if verdict is None:
        return None
    verdict = _mapping(verdict)
    passed = verdict.get("passed")
    raw_rules = verdict.get("rules")
    rules = []
    for raw in raw_rules if isinstance(raw_rules, (list, tuple)) else ():
        rule = _mapping(raw)
        ok = rule.get("passed")
        limit = _num_or_text(rule.get("limit"))
        comparison = rule.get("comparison")
        if isinstance(comparison, str) and comparison and limit != fmt.NA:
            limit = f"{_COMPARISONS.get(comparison, comparison)} {limit}"
        rules.append({
            "rule": _text(rule.get("rule")),
            "arm": _text(rule.get("arm")),
            "attack": _text(rule.get("attack")),
            "measured": _num_or_text(rule.get("measured")),
            "limit": limit,
            "origin": _text(rule.get("origin")),
            "passed": ok if isinstance(ok, bool) else None,
            "message": _text(rule.get("message")),
        })
    notes = verdict.get("notes")
    check = verdict.get("contradiction_check")
    return {
        "passed": passed if isinstance(passed, bool) else None,
        "rules": rules,
        "held": sum(r["passed"] is True for r in rules),
        "failed_rules": [r for r in rules if r["passed"] is False],
        "notes": [_text(n) for n in notes] if isinstance(notes, (list, tuple)) else [],
        "policy": _text(verdict.get("policy")),
        "contradiction_check": check if isinstance(check, bool) else None,
        # Only the always-on DP consistency check ran (e.g. canary-audit without a policy):
        # no release policy was applied, and the banner must not say a release gate passed.
        "consistency_only": bool(rules) and all(r["rule"] == "dp_consistency" for r in rules),
    }


_COMPARISONS = {"<=": "≤", ">=": "≥"}


def _text(x: Any) -> str:
    """A free-form field as text; "" when absent."""
    return "" if x is None or x == "" else fmt.value(x)


def exposed_view(result: AuditResult) -> list[dict[str, Any]]:
    """Per (arm, attack): the most exposed members with their ids, scores and extras."""
    view = []
    for arm in result.arms:
        for a in arm.attacks:
            entries = [_mapping(e) for e in (a.top_exposed or ())][:MAX_EXPOSED]
            if not entries:
                continue
            extra = [k for e in entries for k in e if k not in ("id", "score")]
            extra = list(dict.fromkeys(extra))
            rows = [[str(i + 1), fmt.value(e.get("id")), _score(e.get("score"))]
                    + [fmt.value(e.get(k)) for k in extra] for i, e in enumerate(entries)]
            view.append({"arm": arm.name, "attack": a.name,
                         "columns": ["rank", "id", "score", *extra], "rows": rows})
    return view


def leakage_rows(result: AuditResult) -> list[dict[str, Any]]:
    """Per arm and checkpoint epoch: the cheap attack's AUC and TPRs, with epsilon then."""
    rows = []
    for arm in result.arms:
        leak = _mapping(arm.leakage_per_epoch)
        epochs = leak.get("epoch") if isinstance(leak.get("epoch"), (list, tuple)) else []
        aucs = leak.get("auc") if isinstance(leak.get("auc"), (list, tuple)) else []
        tprs = _mapping(leak.get("tpr_at_fpr"))
        eps = list(arm.privacy.epsilon_per_epoch) if arm.privacy is not None else []
        for i, epoch in enumerate(epochs):
            def at(values: Any) -> Any:
                return values[i] if isinstance(values, (list, tuple)) and i < len(values) else None

            e = eps[int(epoch) - 1] if isinstance(epoch, int) and 0 < epoch <= len(eps) else None
            rows.append({"arm": arm.name, "epoch": fmt.value(epoch),
                         "auc": fmt.num(at(aucs)),
                         **{f"tpr_{level}": fmt.pct(at(tprs.get(level))) for level in FPR_LEVELS},
                         "epsilon": f"{e:.3g}" if fmt.finite(e) else fmt.NA})
    return rows
