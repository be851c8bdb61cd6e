"""`dpaudit canary-audit` and dpaudit.canary.observations's API: results, exit codes,
black-box, trainer."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("tensorflow")

from dpaudit.canary import (CanaryObservations, run_canary_audit,  # noqa: E402
                            summarize_canaries)
from dpaudit.cli import cli  # noqa: E402
from dpaudit.config import load_config  # noqa: E402
from dpaudit.results import PrivacyInfo, load_results  # noqa: E402

# 500 members at q = 1 (batch = N), 2 steps, sigma 4, C 5, 1000 canaries (N and B scaled
# by 2 to fit them): the accountant says 1.36; a correct step gives a one-run bound of 0.34.
_WHITEBOX = ["--members", "500", "--batch-size", "500", "--epochs", "2",
             "--noise-multiplier", "4", "--l2-norm-clip", "5", "--canaries", "1000",
             "--attacks", "loss_threshold", "--no-report", "-q"]


def _run(args, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["canary-audit", *args, "--out", str(out)])
    return result, out


def test_whitebox_one_run_cli_writes_results(tmp_path):
    result, out = _run(_WHITEBOX, tmp_path)
    assert result.exit_code == 0, result.output
    audit = load_results(out / "results.json")
    arm = audit.arm("dp")
    (attack,) = arm.attacks
    assert attack.name == "canary_whitebox_one_run"
    assert 0 <= attack.epsilon_lower_bound < arm.epsilon
    assert arm.epsilon == pytest.approx(1.36, abs=0.01)
    assert arm.privacy.dataset_size == 1000 and arm.privacy.batch_size == 1000
    assert "scaled by 2" in arm.privacy.accounting_note
    details = attack.details
    assert details["num_canaries"] == 1000 and details["runs"] == 1
    assert details["correct_guesses"] <= details["num_guesses"]
    assert "Steinke" in attack.epsilon_lower_bound_method
    assert audit.verdict is not None and audit.verdict["passed"]
    assert audit.data["canaries_per_run"] == 1000
    rows = (out / "scores.csv").read_text().splitlines()
    assert rows[0] == "arm,attack,example_id,is_member,score" and len(rows) == 1001


def test_cli_exits_1_when_a_planted_bug_contradicts_the_accountant(tmp_path, monkeypatch):
    from dpaudit.dp import mechanism

    monkeypatch.setattr(mechanism, "noise_stddev",  # noise divided by the batch size twice
                        lambda l2_norm_clip, noise_multiplier:
                        noise_multiplier * l2_norm_clip / 1000)
    result, out = _run(_WHITEBOX, tmp_path)
    assert result.exit_code == 1, result.output
    assert "DP VIOLATION" in result.output and "canary_whitebox_one_run" in result.output
    audit = json.loads((out / "results.json").read_text())
    assert audit["verdict"]["passed"] is False
    bound = audit["arms"][0]["attacks"][0]["epsilon_lower_bound"]
    assert bound > 3.0  # measured 4.53 vs the accountant's 1.36 (correct step: 0.34)


def test_whitebox_multi_run_reports_clopper_pearson_and_gdp(tmp_path):
    args = [*_WHITEBOX, "--method", "multi-run", "--runs", "2", "--canaries", "500"]
    result, out = _run(args, tmp_path)
    assert result.exit_code == 0, result.output
    arm = load_results(out / "results.json").arm("dp")
    names = [a.name for a in arm.attacks]
    assert names == ["canary_whitebox_multi_run", "canary_whitebox_multi_run_gdp"]
    cp, gdp = arm.attacks
    assert cp.details["runs"] == 2 and cp.details["observations"] == 1000
    assert 0 <= cp.epsilon_lower_bound < gdp.epsilon_lower_bound < arm.epsilon
    assert gdp.details["epsilon_gdp_lower"] == pytest.approx(gdp.epsilon_lower_bound)


@pytest.mark.parametrize("args,message", [
    (["--mode", "whitebox", "--trainer", "os:getcwd"], "--mode blackbox"),
    (["--num-microbatches", "5"], "num_microbatches"),
    (["--runs", "0"], "--runs"),
    (["--method", "three-run"], "--method"),
])
def test_bad_usage_exits_2(tmp_path, args, message):
    result, _ = _run([*args, "-q"], tmp_path)
    assert result.exit_code == 2, result.output
    assert message in result.output




def test_blackbox_with_a_user_trainer(tmp_path, old_contract_trainer):
    old_contract_trainer("my_canary_trainer", epochs=3)
    args = ["--mode", "blackbox", "--trainer", "my_canary_trainer:train", "--members", "100",
            "--batch-size", "25", "--epochs", "3", "--noise-multiplier", "1.0",
            "--canaries", "60", "--attacks", "loss_threshold", "--no-report", "-q"]
    result, out = _run(args, tmp_path)
    assert result.exit_code == 0, result.output
    arm = load_results(out / "results.json").arm("dp")
    (attack,) = arm.attacks
    assert attack.name == "canary_blackbox_one_run"
    assert attack.n_members + attack.n_nonmembers == 60
    assert 0 <= attack.epsilon_lower_bound < arm.epsilon
    assert "my_canary_trainer:train" in arm.privacy.accounting_note
    assert arm.utility is not None and 0 <= arm.utility.test_accuracy <= 1
    sys.modules.pop("my_canary_trainer", None)


def test_blackbox_builtin_recipe_api(tmp_path):
    config = load_config(None, {"data.n_members": 100, "training.epochs": 2,
                                "attacks.names": "loss_threshold", "output.report": False,
                                "output.save_models": False})
    result = run_canary_audit(config, mode="blackbox", method="multi-run", num_canaries=40,
                              runs=2, out_dir=tmp_path)
    arm = result.arm("dp")
    (attack,) = arm.attacks  # black-box multi-run: Clopper-Pearson only, GDP in details
    assert attack.name == "canary_blackbox_multi_run"
    assert "epsilon_gdp" in attack.details and attack.details["runs"] == 2
    # Training sets are members + included canaries, so their sizes vary by run.
    assert arm.privacy.dataset_size >= 100
    assert (tmp_path / "results.json").is_file()


def _observations(scores, is_member, runs=1):
    privacy = PrivacyInfo(noise_multiplier=1.0, l2_norm_clip=1.0, num_microbatches=None,
                          batch_size=10, sampling="poisson", steps=10, epochs=1.0,
                          dataset_size=100, delta=1e-5, epsilon_rdp=2.0, epsilon_pld=1.5)
    n = len(scores)
    return CanaryObservations(mode="whitebox", scores=np.asarray(scores, float),
                              is_member=np.asarray(is_member, bool),
                              run_ids=np.repeat(np.arange(runs), n // runs),
                              num_canaries=n // runs, runs=runs, privacy=privacy)


def test_summaries_compare_against_the_tighter_accountant():
    rng = np.random.default_rng(0)
    included = rng.random(400) < 0.5
    obs = _observations(rng.normal(size=400) + 0.5 * included, included)
    assert obs.epsilon == 1.5
    (summary,) = summarize_canaries(obs, method="one-run")
    assert summary.details["theoretical_epsilon"] == 1.5
    assert summary.delta == 1e-5 and summary.confidence == 0.95
    assert summary.n_members == included.sum()


def test_summary_errors_are_input_errors():
    from dpaudit.errors import InputError

    obs = _observations(np.arange(4.0), [True, True, True, True])
    with pytest.raises(InputError, match="multi-run"):
        summarize_canaries(obs, method="multi-run")
    with pytest.raises(InputError, match="method must be one of"):
        summarize_canaries(obs, method="two-run")
