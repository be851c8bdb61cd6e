"""`dpaudit gate --summary FILE`: the verdict as a GitHub step summary (Markdown)."""

import os
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from dpaudit.cli import cli
from dpaudit.gate import Policy, evaluate_gate
from dpaudit.gate.summary import append_summary, markdown_summary
from dpaudit.results import (ArmResult, AttackSummary, AuditResult, PrivacyInfo, Utility,
                             load_results, save_results)

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
HOSTILE = "<img src=x onerror=alert(1)>|x|"


def _attack(name, auc, lb, tpr=0.03):
    return AttackSummary(name=name, auc=auc, auc_ci=(auc - 0.05, auc + 0.05), advantage=0.1,
                         tpr_at_fpr={"0.001": float("nan"), "0.01": tpr, "0.1": 0.15},
                         epsilon_lower_bound=lb, confidence=0.95, n_members=2000,
                         n_nonmembers=2000, delta=1e-5)


def _result(baseline_name="baseline") -> AuditResult:
    privacy = PrivacyInfo(noise_multiplier=1.1, l2_norm_clip=1.0, num_microbatches=None,
                          batch_size=64, sampling="poisson", steps=500, epochs=10.0,
                          dataset_size=3000, delta=1e-5, epsilon_rdp=3.1, epsilon_pld=2.9)
    return AuditResult(config={}, environment={}, data={}, arms=(
        ArmResult(baseline_name, Utility(1.0, 0.93, 0.01, 0.3), None,
                  (_attack("loss_threshold", 0.71, 1.2, 0.08), _attack("shadow", 0.74, 1.5))),
        ArmResult("dp", Utility(0.9, 0.86, 0.3, 0.35), privacy,
                  (_attack("loss_threshold", 0.53, 0.21), _attack("shadow", 0.56, 0.34)))))


def _table(text: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table under `### header`, split on unescaped pipes."""
    block = text.split(f"### {header}\n\n", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in block.splitlines() if line.startswith("|")][2:]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_summary_has_verdict_every_rule_and_headline_figures():
    result = _result()
    verdict = evaluate_gate(result, Policy.from_options(max_auc=0.6))
    text = markdown_summary(verdict, result)
    assert text.startswith("## ❌ dpaudit gate FAILED: 1 of 3 rules failed")
    rules = _table(text, "Rules")
    assert len(rules) == len(verdict.rules) == 3
    failed = [r for r in rules if r[0] == "❌ FAIL"]
    assert [(r[1], r[2], r[3], r[4]) for r in failed] == [("baseline", "max\\_auc", "0.74",
                                                            "≤ 0.6")]
    figures = {row[0]: row for row in _table(text, "Headline figures")}
    assert figures["dp"][1:] == ["86.0%", "2.9 (PLD, delta 1e-5)", "shadow",
                                 "0.560 [0.51, 0.61]", "3.0%", "0.34"]
    assert figures["baseline"][2] == "none (no DP)" and figures["baseline"][5] == "8.0%"


def test_passing_gate_and_hostile_names_render_as_text():
    result = _result(baseline_name=HOSTILE)
    text = markdown_summary(evaluate_gate(result, None), result)
    assert text.startswith("## ✅ dpaudit gate passed")
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;\\|x\\|" in text
    # Every table row keeps its column count: the pipes in the name are escaped.
    for row in _table(text, "Headline figures"):
        assert len(row) == 7


def test_append_keeps_what_other_steps_wrote(tmp_path):
    path = tmp_path / "summary.md"
    path.write_text("# Build\nok")
    append_summary(path, "## gate\n")
    assert path.read_text() == "# Build\nok\n\n## gate\n"


def test_cli_appends_the_summary_and_still_exits_1_on_failure(tmp_path):
    results = save_results(_result(), tmp_path / "results.json")
    summary = tmp_path / "step-summary.md"
    r = CliRunner().invoke(cli, ["gate", str(results), "--max-auc", "0.6",
                                 "--summary", str(summary)])
    assert r.exit_code == 1, r.output
    assert f"Markdown summary appended to {summary}" in r.output
    assert summary.read_text().startswith("## ❌ dpaudit gate FAILED")
    r = CliRunner().invoke(cli, ["gate", str(results), "--summary", str(tmp_path)])
    assert r.exit_code == 2 and "is a directory" in r.output


def test_github_workflow_writes_the_step_summary_with_least_privilege(tmp_path, monkeypatch):
    yaml = pytest.importorskip("yaml")  # PyYAML is not a dependency; checked where present
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert doc["permissions"] == {"contents": "read"}
    # The workflow's gate line, with $GITHUB_STEP_SUMMARY expanded as the runner does.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "policy.toml").write_text(
        (ROOT / "examples" / "policy.toml").read_text())
    save_results(_result(), tmp_path / "audit" / "results.json")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step.md"))
    line = re.search(r"dpaudit gate [^;\n]*(?:\n\s+--[^;\n]*)*", WORKFLOW.read_text()).group(0)
    argv = [os.path.expandvars(a) for a in shlex.split(line)[1:]]
    assert "--summary" in argv
    r = CliRunner().invoke(cli, argv)
    assert (tmp_path / "step.md").read_text().startswith("## ")
    assert r.exit_code in (0, 1), r.output
    assert load_results(tmp_path / "audit" / "results.json").arms  # input untouched
