"""Unit tests of dpaudit.gate.verdict and its policy parser (no TensorFlow, no training)."""

import dataclasses
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dpaudit.errors import InputError
from dpaudit.gate import (CONSISTENCY_RULE, CONTRADICTION_MESSAGE, Policy, RuleSet, Verdict,
                          evaluate_gate, format_text, load_policy, write_junit)
from dpaudit.results import (ArmResult, AttackSummary, AuditResult, PrivacyInfo, Utility,
                             save_results)

EXAMPLE_POLICY = Path(__file__).resolve().parents[2] / "examples" / "policy.toml"


def _attack(name, *, auc, lb, tpr=(0.002, 0.02, 0.15), delta=1e-5, n=2000):
    return AttackSummary(
        name=name, auc=auc, auc_ci=(auc - 0.05, auc + 0.05), advantage=0.1,
        tpr_at_fpr=dict(zip(("0.001", "0.01", "0.1"), tpr)), epsilon_lower_bound=lb,
        confidence=0.95, n_members=n, n_nonmembers=n, delta=delta)


def _privacy(epsilon_rdp=3.1, epsilon_pld=2.9, noise_multiplier=1.1, delta=1e-5):
    return PrivacyInfo(noise_multiplier=noise_multiplier, l2_norm_clip=1.0,
                       num_microbatches=None, batch_size=64, sampling="poisson", steps=500,
                       epochs=10.0, dataset_size=3000, delta=delta, epsilon_rdp=epsilon_rdp,
                       epsilon_pld=epsilon_pld)


def _result(*, dp_attacks=None, dp_privacy=None, baseline=True) -> AuditResult:
    """A baseline that leaks (AUC 0.74) and a DP arm that barely does (AUC 0.56, eps 2.9)."""
    dp = ArmResult("dp", Utility(0.9, 0.86, 0.3, 0.35), dp_privacy or _privacy(),
                   dp_attacks if dp_attacks is not None else (
                       _attack("loss_threshold", auc=0.53, lb=0.21, tpr=(0.002, 0.03, 0.12)),
                       _attack("shadow", auc=0.56, lb=0.34, tpr=(0.001, 0.02, 0.16))))
    arms = (dp,)
    if baseline:
        arms = (ArmResult("baseline", Utility(1.0, 0.93, 0.01, 0.3), None, (
            _attack("loss_threshold", auc=0.71, lb=1.2),
            _attack("shadow", auc=0.74, lb=1.5))),) + arms
    return AuditResult(config={}, environment={}, data={}, arms=arms)


def _only(verdict, arm, rule):
    matches = [o for o in verdict.rules if o.arm == arm and o.rule == rule]
    assert len(matches) == 1, verdict.format_text()
    return matches[0]


# --- each rule, passing and failing --------------------------------------------------

@pytest.mark.parametrize("options, rule, measured, attack", [
    ({"max_auc": 0.6}, "max_auc", 0.56, "shadow"),
    ({"max_tpr_at_fpr": {"0.01": 0.05}}, "max_tpr_at_fpr[0.01]", 0.03, "loss_threshold"),
    ({"max_tpr_at_fpr": {"0.1": 0.2}}, "max_tpr_at_fpr[0.1]", 0.16, "shadow"),
    ({"max_empirical_epsilon": 1.0}, "max_empirical_epsilon", 0.34, "shadow"),
    ({"max_epsilon": 8.0}, "max_epsilon", 2.9, None),
    ({"min_test_accuracy": 0.8}, "min_test_accuracy", 0.86, None),
])
def test_each_rule_passes_under_its_limit_and_fails_over_it(options, rule, measured, attack):
    passing = evaluate_gate(_result(), Policy.from_options(**options, arms=["dp"]))
    outcome = _only(passing, "dp", rule)
    assert outcome.passed and passing.passed
    assert outcome.measured == pytest.approx(measured)
    assert outcome.attack == attack  # the worst attack decides and is named
    if attack:
        assert repr(attack) in outcome.message

    # Move the limit just past the measured value, on the failing side.
    key, value = next(iter(options.items()))
    nudge = 1.01 if key == "min_test_accuracy" else 0.99
    if isinstance(value, dict):
        tight = {key: {level: measured * nudge for level in value}}
    else:
        tight = {key: measured * nudge}
    failing = evaluate_gate(_result(), Policy.from_options(**tight, arms=["dp"]))
    outcome = _only(failing, "dp", rule)
    assert not outcome.passed and not failing.passed
    assert outcome.measured == pytest.approx(measured)
    assert outcome.attack == attack


def test_a_limit_equal_to_the_measured_value_passes():
    verdict = evaluate_gate(_result(), Policy.from_options(max_auc=0.56, min_test_accuracy=0.86,
                                                           arms=["dp"]))
    assert verdict.passed, verdict.format_text()


def test_options_without_arm_apply_to_every_arm():
    verdict = evaluate_gate(_result(), Policy.from_options(max_auc=0.6))
    assert not _only(verdict, "baseline", "max_auc").passed
    assert _only(verdict, "dp", "max_auc").passed
    assert [o.arm for o in verdict.failures] == ["baseline"]


# --- missing evidence fails closed ---------------------------------------------------

def test_unmeasurable_tpr_fails_closed_and_says_why():
    attacks = (_attack("loss_threshold", auc=0.53, lb=0.2, tpr=(math.nan, 0.02, 0.1), n=500),)
    verdict = evaluate_gate(_result(dp_attacks=attacks),
                            Policy.from_options(max_tpr_at_fpr={"0.001": 0.5}, arms=["dp"]))
    outcome = _only(verdict, "dp", "max_tpr_at_fpr[0.001]")
    assert not outcome.passed and math.isnan(outcome.measured)
    assert "could not be measured" in outcome.message
    assert "only 500 non-members" in outcome.message and "at least 10000" in outcome.message


def test_an_arm_without_attacks_fails_attack_rules():
    verdict = evaluate_gate(_result(dp_attacks=()), Policy.from_options(max_auc=0.9, arms=["dp"]))
    assert "no attack results" in _only(verdict, "dp", "max_auc").message
    assert not verdict.passed


def test_missing_accuracy_fails_closed():
    result = _result()
    dp = dataclasses.replace(result.arm("dp"), utility=None)
    result = dataclasses.replace(result, arms=(result.arms[0], dp))
    verdict = evaluate_gate(result, Policy.from_options(min_test_accuracy=0.1, arms=["dp"]))
    assert not verdict.passed
    assert "could not be measured" in _only(verdict, "dp", "min_test_accuracy").message


# --- max_epsilon and arms that make no DP claim ---------------------------------------

def test_max_epsilon_for_every_arm_skips_the_baseline_with_a_note():
    verdict = evaluate_gate(_result(), Policy.from_options(max_epsilon=8.0))
    assert verdict.passed
    assert [o.arm for o in verdict.rules if o.rule == "max_epsilon"] == ["dp"]
    assert any("not applied to arm 'baseline'" in note for note in verdict.notes)


def test_max_epsilon_named_for_a_non_dp_arm_fails():
    verdict = evaluate_gate(_result(), Policy.from_options(max_epsilon=8.0, arms=["baseline"]))
    outcome = _only(verdict, "baseline", "max_epsilon")
    assert not outcome.passed and "makes no DP claim" in outcome.message


def test_max_epsilon_fails_when_no_arm_claims_dp():
    result = AuditResult(config={}, environment={}, data={}, arms=(
        ArmResult("model", Utility(1.0, 0.9, 0.0, 0.3), None,
                  (_attack("loss_threshold", auc=0.7, lb=1.0),)),))
    verdict = evaluate_gate(result, Policy.from_options(max_epsilon=8.0))
    assert not verdict.passed
    assert "no arm in the results claims DP" in _only(verdict, "model", "max_epsilon").message


def test_dp_arm_with_missing_accounting_fails_max_epsilon_and_consistency():
    privacy = _privacy(epsilon_rdp=None, epsilon_pld=None)
    verdict = evaluate_gate(_result(dp_privacy=privacy), Policy.from_options(max_epsilon=8.0))
    assert "accounting is missing" in _only(verdict, "dp", "max_epsilon").message
    assert not _only(verdict, "dp", CONSISTENCY_RULE).passed


# --- the always-on DP consistency check -----------------------------------------------

def test_consistency_check_runs_without_rules_and_says_so():
    verdict = evaluate_gate(_result(), None)
    assert verdict.passed and verdict.contradiction_check
    outcome = _only(verdict, "dp", CONSISTENCY_RULE)
    assert outcome.measured == pytest.approx(0.34) and outcome.limit == pytest.approx(2.9)
    assert any("only the always-on DP consistency check ran" in n for n in verdict.notes)
    # The baseline claims no guarantee: nothing to contradict.
    assert [o.arm for o in verdict.rules] == ["dp"]


def test_lower_bound_above_the_theoretical_epsilon_fails_the_gate():
    # 3.0 lies between the PLD (2.9) and RDP (3.1) epsilons: the tighter one is the claim.
    attacks = (_attack("loss_threshold", auc=0.53, lb=0.2),
               _attack("canary", auc=0.9, lb=3.0))
    verdict = evaluate_gate(_result(dp_attacks=attacks), Policy.from_options(max_auc=0.99))
    outcome = _only(verdict, "dp", CONSISTENCY_RULE)
    assert not verdict.passed and not outcome.passed
    assert CONTRADICTION_MESSAGE in outcome.message
    assert outcome.attack == "canary" and "95% confidence" in outcome.message
    assert CONTRADICTION_MESSAGE in verdict.format_text()


@pytest.mark.parametrize("turn_off", ["argument", "policy"])
def test_consistency_check_can_be_turned_off_and_the_verdict_says_so(turn_off):
    attacks = (_attack("canary", auc=0.9, lb=3.0),)
    if turn_off == "argument":
        verdict = evaluate_gate(_result(dp_attacks=attacks),
                                Policy.from_options(min_test_accuracy=0.1),
                                check_contradiction=False)
    else:
        policy = Policy.from_mapping({"allow_contradiction": True,
                                      "all": {"min_test_accuracy": 0.1}}, source="p.toml")
        verdict = evaluate_gate(_result(dp_attacks=attacks), policy)
        assert any("allow_contradiction = true in p.toml" in n for n in verdict.notes)
    assert verdict.passed and not verdict.contradiction_check
    assert not any(o.rule == CONSISTENCY_RULE for o in verdict.rules)
    # With the check off and no rule, nothing would be checked: refused, not passed.
    with pytest.raises(InputError, match="the DP consistency check is off"):
        evaluate_gate(_result(dp_attacks=attacks), None, check_contradiction=False)
    text = verdict.format_text()
    assert "consistency check is OFF" in text and "turned off" in text
    assert any(n.startswith("NOT ENFORCED") and CONTRADICTION_MESSAGE in n
               for n in verdict.notes)


def test_a_bound_at_a_smaller_delta_is_not_held_against_the_guarantee():
    # An (eps, 1e-5)-DP mechanism need not be (eps, 1e-7)-DP: no contradiction to claim.
    attacks = (_attack("canary", auc=0.9, lb=5.0, delta=1e-7),)
    verdict = evaluate_gate(_result(dp_attacks=attacks), None)
    assert verdict.passed
    assert any("delta=1e-07" in n and "not compared" in n for n in verdict.notes)
    # At a larger delta the bound does contradict: (eps, 1e-5)-DP implies (eps, 1e-3)-DP.
    attacks = (_attack("canary", auc=0.9, lb=5.0, delta=1e-3),)
    assert not evaluate_gate(_result(dp_attacks=attacks), None).passed


# --- policy files ----------------------------------------------------------------------

def _write(tmp_path, text, name="policy.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_per_arm_rules_override_all_and_options_override_the_file(tmp_path):
    path = _write(tmp_path, '[all]\nmax_auc = 0.9\nmin_test_accuracy = 0.5\n'
                            '[arms.dp]\nmax_auc = 0.5\nmax_tpr_at_fpr = { "0.01" = 0.05 }\n')
    policy = load_policy(path)
    limits = policy.limits_for("dp")
    assert limits["max_auc"].value == 0.5 and limits["max_auc"].origin == f"{path} [arms.dp]"
    assert limits["min_test_accuracy"].origin == f"{path} [all]"
    assert policy.limits_for("baseline")["max_auc"].value == 0.9
    verdict = evaluate_gate(_result(), policy)
    assert [f"{o.arm}/{o.rule}" for o in verdict.failures] == ["dp/max_auc"]

    overridden = policy.with_overrides(Policy.from_options(max_auc=0.6, arms=["dp"]))
    assert overridden.limits_for("dp")["max_auc"].value == 0.6
    assert evaluate_gate(_result(), overridden).passed
    assert overridden.source == f"{path} + command line"


def test_unquoted_fpr_keys_are_accepted(tmp_path):
    # TOML reads `0.01 = 0.05` as the dotted key 0 -> 01; the parser undoes that.
    path = _write(tmp_path, "[arms.dp.max_tpr_at_fpr]\n0.01 = 0.05\n0.1 = 0.3\n")
    rules = load_policy(path).limits_for("dp")
    assert rules["max_tpr_at_fpr[0.01]"].value == 0.05
    assert rules["max_tpr_at_fpr[0.1]"].value == 0.3


def test_the_example_policy_loads_and_judges_an_audit():
    policy = load_policy(EXAMPLE_POLICY)
    assert not policy.allow_contradiction
    verdict = evaluate_gate(_result(), policy)
    assert verdict.passed, verdict.format_text()
    assert {o.rule for o in verdict.rules if o.arm == "dp"} >= {
        "max_epsilon", "max_auc", "max_tpr_at_fpr[0.1]", "min_test_accuracy", CONSISTENCY_RULE}


@pytest.mark.parametrize("text, fragment", [
    ("[arms.dp\nmax_auc = 0.5", "not valid TOML"),
    ("[arms.dp]\nmax_aucc = 0.5", "unknown rule 'arms.dp.max_aucc' (did you mean 'max_auc'?)"),
    ("[all]\nmax_leakage = 0.5", "unknown rule 'all.max_leakage'"),
    ('[arms.dp]\nmax_auc = "0.5"', "field 'arms.dp.max_auc' must be a number"),
    ("[arms.dp]\nmax_auc = 1.5", "field 'arms.dp.max_auc' must be in [0, 1], got 1.5"),
    ("[arms.dp]\nmax_epsilon = -1", "field 'arms.dp.max_epsilon' must be non-negative"),
    ("[arms.dp]\nmax_epsilon = nan", "must be a finite number"),
    ("[arms.dp]\nmax_epsilon = true", "must be a number"),
    ('[arms.dp]\nmax_tpr_at_fpr = { "0.05" = 0.1 }', "TPR only at FPR 0.001, 0.01, 0.1"),
    ("[arms.dp]\nmax_tpr_at_fpr = 0.1", "must be a table of FPR level = TPR limit"),
    ('[arms.dp]\nmax_tpr_at_fpr = { "0.01" = 2 }', "must be in [0, 1]"),
    ("max_auc = 0.5", "field 'max_auc' is at the top level; put rules under [all]"),
    ("version = 2", "unknown field 'version'"),
    ('allow_contradiction = "yes"', "'allow_contradiction' must be true or false"),
    ("arms = 3", "field 'arms' must be a table"),
    ("[arms]\ndp = 0.5", "field 'arms.dp' must be a table of rules"),
])
def test_malformed_policies_raise_input_errors_naming_file_and_field(tmp_path, text, fragment):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_policy(path)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)


def test_missing_policy_file(tmp_path):
    with pytest.raises(InputError, match="policy file not found"):
        load_policy(tmp_path / "nope.toml")


def test_a_policy_naming_an_arm_the_results_lack_is_an_input_error(tmp_path):
    path = _write(tmp_path, "[arms.dpp]\nmax_auc = 0.5\n")
    with pytest.raises(InputError, match=r"\[arms.dpp\]: no arm named 'dpp' .*baseline, dp"):
        evaluate_gate(_result(), load_policy(path))


def test_ruleset_validates_programmatic_limits():
    with pytest.raises(InputError, match="'max_auc' must be in"):
        RuleSet(max_auc=2.0)
    with pytest.raises(InputError, match="FPR"):
        RuleSet(max_tpr_at_fpr={"0.5": 0.1})
    assert RuleSet(max_tpr_at_fpr={1e-2: 0.1}).max_tpr_at_fpr == {"0.01": 0.1}
    with pytest.raises(InputError, match="option --max-auc must be a finite number"):
        Policy.from_options(max_auc=math.nan)


# --- outputs ---------------------------------------------------------------------------

def _failing_verdict():
    attacks = (_attack("loss_threshold", auc=0.53, lb=0.2, tpr=(math.nan, 0.03, 0.12), n=500),
               _attack("canary", auc=0.65, lb=3.0))
    policy = Policy.from_options(max_auc=0.6, max_tpr_at_fpr={"0.001": 0.1, "0.01": 0.05},
                                 min_test_accuracy=0.8, arms=["dp"])
    return evaluate_gate(_result(dp_attacks=attacks), policy)


def test_verdict_dict_is_strict_json_and_round_trips(tmp_path):
    verdict = _failing_verdict()
    raw = verdict.to_dict()
    text = json.dumps(raw, allow_nan=False)  # NaN measured values became null
    assert raw["n_failed"] == 3 and raw["passed"] is False
    back = Verdict.from_dict(json.loads(text))
    assert back.to_dict() == raw
    # It is what results.json stores under "verdict".
    save_results(_result().with_verdict(raw), tmp_path / "results.json")
    assert json.loads((tmp_path / "results.json").read_text())["verdict"] == raw


def test_text_lists_every_rule_with_measured_limit_and_status():
    verdict = _failing_verdict()
    text = format_text(verdict)
    assert text == verdict.format_text()
    for o in verdict.rules:
        assert o.rule in text
    assert "FAIL  dp  max_auc" in text and "limit <= 0.6" in text
    assert "PASS  dp  min_test_accuracy" in text and "limit >= 0.8" in text
    assert text.splitlines()[-1].startswith("gate FAILED: 3 of 5 rules failed")


def test_junit_xml_parses_and_counts_the_failures(tmp_path):
    verdict = _failing_verdict()
    path = write_junit(verdict, tmp_path / "out" / "junit.xml")
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(verdict.rules) == int(suite.get("tests")) == 5
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == int(suite.get("failures")) == int(root.get("failures")) == 3
    assert {(c.get("classname"), c.get("name")) for c in failed} == {
        ("dpaudit.gate.dp", "dp_consistency"), ("dpaudit.gate.dp", "max_auc"),
        ("dpaudit.gate.dp", "max_tpr_at_fpr[0.001]")}
    messages = [c.find("failure").get("message") for c in failed]
    assert any(CONTRADICTION_MESSAGE in m for m in messages)
    assert any("could not be measured" in m for m in messages)
    assert not list(tmp_path.joinpath("out").glob(".junit.xml.*"))  # no temp file left
