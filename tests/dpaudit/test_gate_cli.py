"""`dpaudit gate` through click: output, exit codes 0/1/2, JUnit, and the CI examples."""

import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from dpaudit.cli import cli
from dpaudit.gate import CONTRADICTION_MESSAGE
from dpaudit.results import (ArmResult, AttackSummary, AuditResult, PrivacyInfo, Utility,
                             save_results)

ROOT = Path(__file__).resolve().parents[2]
CI_FILES = [ROOT / "examples" / "ci" / "github-actions.yml",
            ROOT / "examples" / "ci" / "gitlab-ci.yml"]


def _attack(name, auc, lb):
    return AttackSummary(name=name, auc=auc, auc_ci=(auc - 0.05, auc + 0.05), advantage=0.1,
                         tpr_at_fpr={"0.001": 0.002, "0.01": 0.03, "0.1": 0.15},
                         epsilon_lower_bound=lb, confidence=0.95, n_members=2000,
                         n_nonmembers=2000, delta=1e-5)


def _results(tmp_path, *, dp_bound=0.34, name="results.json") -> Path:
    privacy = PrivacyInfo(noise_multiplier=1.1, l2_norm_clip=1.0, num_microbatches=None,
                          batch_size=64, sampling="poisson", steps=500, epochs=10.0,
                          dataset_size=3000, delta=1e-5, epsilon_rdp=3.1, epsilon_pld=2.9)
    result = AuditResult(config={}, environment={}, data={}, arms=(
        ArmResult("baseline", Utility(1.0, 0.93, 0.01, 0.3), None,
                  (_attack("loss_threshold", 0.71, 1.2), _attack("shadow", 0.74, 1.5))),
        ArmResult("dp", Utility(0.9, 0.86, 0.3, 0.35), privacy,
                  (_attack("loss_threshold", 0.53, 0.21), _attack("shadow", 0.56, dp_bound)))))
    return save_results(result, tmp_path / name)


def _gate(*args):
    return CliRunner().invoke(cli, ["gate", *map(str, args)])


def test_all_rules_pass_exit_0_and_each_rule_is_printed(tmp_path):
    r = _gate(_results(tmp_path), "--max-auc", "0.8", "--max-tpr-at-fpr", "0.01=0.05",
              "--max-empirical-epsilon", "2", "--max-epsilon", "8", "--min-test-accuracy", "0.8")
    assert r.exit_code == 0, r.output
    for rule in ("max_auc", "max_tpr_at_fpr[0.01]", "max_empirical_epsilon", "max_epsilon",
                 "min_test_accuracy", "dp_consistency"):
        assert re.search(rf"PASS +dp +{re.escape(rule)} +measured +[\d.]+ +limit", r.output), rule
    assert "limit <= 8" in r.output and "limit >= 0.8" in r.output
    assert "gate PASSED" in r.output


def test_a_failing_rule_exits_1_and_names_the_attack(tmp_path):
    r = _gate(_results(tmp_path), "--max-auc", "0.6")
    assert r.exit_code == 1, r.output
    assert re.search(r"FAIL +baseline +max_auc +measured +0.74 +limit <= 0.6", r.output)
    assert "attack 'shadow': AUC = 0.74 exceeds the limit 0.6" in r.output
    assert "gate FAILED: 1 of" in r.output


def test_arm_option_limits_the_options_to_that_arm(tmp_path):
    r = _gate(_results(tmp_path), "--max-auc", "0.6", "--arm", "dp")
    assert r.exit_code == 0, r.output
    assert "baseline" not in r.output.split("gate PASSED")[0]


def test_options_override_the_policy_file(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[arms.dp]\nmax_auc = 0.5\n")
    results = _results(tmp_path)
    assert _gate(results, "--policy", policy).exit_code == 1
    r = _gate(results, "--policy", policy, "--max-auc", "0.6", "--arm", "dp")
    assert r.exit_code == 0, r.output
    assert "(limit from command line (--arm dp))" in r.output


def test_example_policy_passes_a_sound_audit(tmp_path):
    r = _gate(_results(tmp_path), "--policy", ROOT / "examples" / "policy.toml")
    assert r.exit_code == 0, r.output
    assert "examples/policy.toml [arms.dp]" in r.output


def test_contradiction_fails_even_without_rules_and_the_override_says_so(tmp_path):
    results = _results(tmp_path, dp_bound=3.0)  # above the claimed epsilon 2.9
    r = _gate(results)
    assert r.exit_code == 1, r.output
    assert CONTRADICTION_MESSAGE in r.output
    assert "only the always-on DP consistency check ran" in r.output

    r = _gate(results, "--allow-contradiction")
    assert r.exit_code == 2, r.output  # nothing left to check
    assert "NOT ENFORCED" in r.output

    r = _gate(results, "--allow-contradiction", "--min-test-accuracy", "0.5")
    assert r.exit_code == 0, r.output
    assert "consistency check is OFF" in r.output
    assert "turned off (--allow-contradiction)" in r.output
    assert "NOT ENFORCED" in r.output  # the finding is still shown


def test_no_rules_is_not_a_pass_but_says_what_to_configure(tmp_path):
    # Issue 14.1: "gate PASSED: 0 rules checked" with a baseline at AUC 0.71 unchecked.
    r = _gate(_results(tmp_path))
    assert r.exit_code == 2, r.output
    assert "nothing to pass" in r.output and "--max-auc" in r.output
    assert "Traceback" not in r.output


def test_an_empty_policy_file_is_not_a_pass(tmp_path):
    policy = tmp_path / "empty.toml"
    policy.write_text("# nothing yet\n")
    r = _gate(_results(tmp_path), "--policy", policy)
    assert r.exit_code == 2, r.output
    assert f"{policy} sets no rule" in r.output


def test_zero_outcomes_raise_in_the_library_too(tmp_path):
    from dpaudit.errors import InputError
    from dpaudit.gate import Policy, evaluate_gate
    from dpaudit.results import load_results

    result = load_results(_results(tmp_path))
    baseline_only = AuditResult(config={}, environment={}, data={}, arms=(result.arms[0],))
    with pytest.raises(InputError, match="nothing to check"):
        evaluate_gate(baseline_only, Policy())


def test_junit_is_written_on_failure_and_counts_failures(tmp_path):
    junit = tmp_path / "reports" / "junit.xml"
    r = _gate(_results(tmp_path, dp_bound=3.0), "--max-auc", "0.6", "--min-test-accuracy",
              "0.9", "--junit", junit)
    assert r.exit_code == 1, r.output
    suite = ET.parse(junit).getroot().find("testsuite")
    failed = {(c.get("classname"), c.get("name")) for c in suite.iter("testcase")
              if c.find("failure") is not None}
    assert failed == {("dpaudit.gate.baseline", "max_auc"), ("dpaudit.gate.dp", "dp_consistency"),
                      ("dpaudit.gate.dp", "min_test_accuracy")}
    assert suite.get("failures") == "3" and suite.get("tests") == "5"


@pytest.mark.parametrize("setup, args, fragment", [
    (None, ["missing.json"], "results file not found"),
    ("{", ["bad.json"], "not valid JSON"),
    ("POLICY:[arms.dp]\nmax_aucc = 1", ["--policy", "p.toml"], "unknown rule 'arms.dp.max_aucc'"),
    ("POLICY:[arms.dp\n", ["--policy", "p.toml"], "not valid TOML"),
    ("POLICY:[arms.dpp]\nmax_auc = 0.6", ["--policy", "p.toml"], "no arm named 'dpp'"),
    (None, ["--policy", "nope.toml"], "policy file not found"),
    (None, ["--max-tpr-at-fpr", "0.01:0.05"], "expected FPR=X"),
    (None, ["--max-tpr-at-fpr", "0.01=high"], "expected FPR=X"),
    (None, ["--max-tpr-at-fpr", "0.02=0.1"], "TPR only at FPR 0.001, 0.01, 0.1"),
    (None, ["--max-auc", "1.5"], "option --max-auc must be in [0, 1], got 1.5"),
    (None, ["--max-auc", "lots"], "is not a valid float"),
    (None, ["--max-epsilon", "-1"], "option --max-epsilon must be non-negative"),
    (None, ["--max-auc", "0.6", "--arm", "nope"], "no arm named 'nope'"),
    (None, ["--arm", "dp"], "give at least one rule option"),
])
def test_bad_input_exits_2_with_a_message_and_no_traceback(tmp_path, setup, args, fragment,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = _results(tmp_path)
    if setup is not None and setup.startswith("POLICY:"):
        (tmp_path / "p.toml").write_text(setup[len("POLICY:"):])
    elif setup is not None:
        (tmp_path / "bad.json").write_text(setup)
    if args[0].endswith(".json"):
        r = _gate(*args)
    else:
        r = _gate(results, *args)
    assert r.exit_code == 2, r.output
    assert fragment in r.output
    assert "Traceback" not in r.output


def test_ci_examples_run_a_gate_command_that_works(tmp_path, monkeypatch):
    """The gate line of each CI example is accepted as written and writes its JUnit file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "policy.toml").write_text(
        (ROOT / "examples" / "policy.toml").read_text())
    (tmp_path / "audit").mkdir()
    _results(tmp_path / "audit")
    for path in CI_FILES:
        text = path.read_text()
        assert "dpaudit train-and-attack --out audit --policy examples/policy.toml" in text
        assert "audit/report.html" in text and "audit/junit.xml" in text
        match = re.search(r"dpaudit gate [^;\n]*(?:\n\s+--[^;\n]*)*", text)
        assert match, path
        argv = shlex.split(match.group(0))[1:]
        r = CliRunner().invoke(cli, argv)
        assert r.exit_code == 0, (path.name, r.output)
        assert ET.parse(tmp_path / "audit" / "junit.xml").getroot().tag == "testsuites"
        (tmp_path / "audit" / "junit.xml").unlink()


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_ci_examples_install_tensorflow_for_training(path):
    """The base install has no TensorFlow; a CI job that trains must ask for an extra."""
    commands = [line for line in path.read_text().splitlines()
                if "pip install" in line and not line.lstrip().startswith("#")]
    assert commands and all("[tensorflow" in line for line in commands), commands


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_ci_examples_are_valid_yaml_that_keeps_artifacts_on_failure(path):
    yaml = pytest.importorskip("yaml")  # PyYAML is not a dependency; checked where present
    doc = yaml.safe_load(path.read_text())
    if path.name == "github-actions.yml":
        steps = doc["jobs"]["privacy-audit"]["steps"]
        upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
        assert "cancelled()" in upload["if"]  # runs after a failed gate too
        assert "audit/report.html" in upload["with"]["path"]
    else:
        job = doc["privacy-audit"]
        assert job["artifacts"]["when"] == "always"
        assert job["artifacts"]["reports"]["junit"] == "audit/junit.xml"
        assert "audit/report.html" in job["artifacts"]["paths"]


def test_a_run_without_policy_says_no_release_gate_ran(tmp_path, capsys):
    # Issue 14.3: canary-audit without --policy stores the consistency check's verdict.
    from dpaudit.commands._common import finish_run
    from dpaudit.gate import evaluate_gate
    from dpaudit.results import load_results

    result = load_results(_results(tmp_path))
    result = result.with_verdict(evaluate_gate(result, None).to_dict())
    finish_run(result, tmp_path, quiet=False, summary="")
    assert "no release gate ran" in capsys.readouterr().out
