"""The contradiction rule's stricter confidence, estimates, and inconclusive audits (issue 12).

CLI, gate and report must agree: a bound that exceeds epsilon only at 95% is not a bug,
an estimate never is, and an audit whose ceiling is at or below the claim is reported
"inconclusive" (and fails a policy with require_conclusive). No TensorFlow here.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from dpaudit.errors import InputError
from dpaudit.evidence import (RULE_CONFIDENCE, Status, arm_conclusive, classify_attack,
                              contradictions, rule_confidence)
from dpaudit.gate import CONSISTENCY_RULE, evaluate_gate
from dpaudit.gate.policy import Policy
from dpaudit.reports.evidence import compare_arm
from dpaudit.results import AuditResult
from tests.reports.conftest import make_result


def _with_dp_attack(**fields) -> AuditResult:
    result = make_result()
    dp = result.arm("dp")
    attack = dataclasses.replace(dp.attacks[0], **fields)
    dp = dataclasses.replace(dp, attacks=(attack,))
    return dataclasses.replace(result, arms=(result.arm("baseline"), dp))


def _agree(result: AuditResult) -> bool:
    """The CLI's, the gate's and the report's verdict on the dp arm, which must agree."""
    cli = bool(contradictions(result))
    gate = any(r.rule == CONSISTENCY_RULE and not r.passed for r in evaluate_gate(result).rules)
    report = any(row.is_bug for row in compare_arm(result.arm("dp")))
    assert cli == gate == report
    return cli


def test_rule_confidence_is_bonferroni_over_the_bounds():
    assert RULE_CONFIDENCE == 0.999
    assert rule_confidence(1) == pytest.approx(0.999)
    assert rule_confidence(2) == pytest.approx(0.9995)


def test_a_bound_above_epsilon_only_at_95_percent_is_not_a_bug():
    eps = make_result().arm("dp").epsilon
    result = _with_dp_attack(epsilon_lower_bound=eps + 1.0, rule_epsilon_lower_bound=eps * 0.9,
                             rule_confidence=0.999)
    assert not _agree(result)
    (row,) = compare_arm(result.arm("dp"))
    assert row.lower_bound == eps + 1.0  # the report still shows the 95% figure
    assert "0.999" in row.reading and "not evidence of a bug" in row.reading


def test_the_rule_fires_on_the_stricter_bound():
    eps = make_result().arm("dp").epsilon
    result = _with_dp_attack(epsilon_lower_bound=eps + 2.0, rule_epsilon_lower_bound=eps + 1.0,
                             rule_confidence=0.999)
    assert _agree(result)
    (found,) = contradictions(result)
    assert found.confidence == 0.999 and found.lower_bound == eps + 1.0


def test_estimates_never_fire_the_rule():
    eps = make_result().arm("dp").epsilon
    result = _with_dp_attack(epsilon_lower_bound=eps * 5, is_estimate=True)
    assert classify_attack(result.arm("dp"), result.arm("dp").attacks[0]) == Status.ESTIMATE
    assert not _agree(result)
    verdict = evaluate_gate(result)
    assert verdict.passed and any("ESTIMATE" in note for note in verdict.notes)
    (row,) = compare_arm(result.arm("dp"))
    assert "ESTIMATE" in row.reading


def test_older_results_without_the_stricter_bound_use_the_stated_one():
    eps = make_result().arm("dp").epsilon
    assert _agree(_with_dp_attack(epsilon_lower_bound=eps + 1.0))


def test_inconclusive_is_said_and_fails_only_when_required():
    eps = make_result().arm("dp").epsilon
    result = _with_dp_attack(epsilon_lower_bound=0.5, ceiling=eps * 0.2, conclusive=False,
                             rule_epsilon_lower_bound=0.4, rule_confidence=0.999)
    assert arm_conclusive(result.arm("dp")) is False
    verdict = evaluate_gate(result)
    assert verdict.passed and verdict.inconclusive
    assert "INCONCLUSIVE" in verdict.format_text() and f"{eps * 0.2:.4g}" in verdict.format_text()
    assert verdict.to_dict()["inconclusive"] is True
    strict = evaluate_gate(result, Policy(require_conclusive=True))
    assert not strict.passed
    (failed,) = strict.failures
    assert failed.rule == "conclusive_audit" and "INCONCLUSIVE" in failed.message
    (row,) = compare_arm(result.arm("dp"))
    assert "INCONCLUSIVE" in row.reading
    conclusive = _with_dp_attack(ceiling=eps * 3, conclusive=True)
    assert evaluate_gate(conclusive, Policy(require_conclusive=True)).passed
    assert not evaluate_gate(conclusive).inconclusive


def test_policy_key_require_conclusive():
    policy = Policy.from_mapping({"require_conclusive": True}, source="p.toml")
    assert policy.require_conclusive
    assert Policy().with_overrides(policy).require_conclusive
    with pytest.raises(InputError, match="'require_conclusive' must be true or false"):
        Policy.from_mapping({"require_conclusive": "yes"}, source="p.toml")


def test_new_fields_round_trip_and_old_files_still_load():
    result = _with_dp_attack(is_estimate=True, rule_epsilon_lower_bound=0.3,
                             rule_confidence=0.999, ceiling=2.1, conclusive=True)
    back = AuditResult.from_dict(json.loads(result.to_json()))
    attack = back.arm("dp").attacks[0]
    assert (attack.is_estimate, attack.rule_epsilon_lower_bound, attack.rule_confidence,
            attack.ceiling, attack.conclusive) == (True, 0.3, 0.999, 2.1, True)
    raw = json.loads(make_result().to_json())
    for arm in raw["arms"]:
        for a in arm["attacks"]:
            for key in ("is_estimate", "rule_epsilon_lower_bound", "rule_confidence",
                        "ceiling", "conclusive"):
                a.pop(key)
    old = AuditResult.from_dict(raw).arm("dp").attacks[0]
    assert old.is_estimate is False and old.conclusive is None and old.ceiling is None
