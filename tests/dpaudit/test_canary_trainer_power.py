"""Planted-bug power and old-contract inconclusiveness of `canary-audit --trainer` (issue 12).

The hand-written plain-TensorFlow trainers of examples/trainers: each planted bug must be
caught (the rule's 99.9% bound above the claimed epsilon), the correct trainer must not
be, at small settings (128 canaries, one run: ceiling about 1.6 at 99.9% against a claim
of 0.91). The full 3-seed table at the default settings is benchmarks/planted_bugs.py.
False-failure rate: the correct-trainer case fails only if the sound one-run bound errs,
probability <= 1e-3; the bug cases were measured with perfect or near-perfect separation
(seed 0: every one of the 51 guesses right), far from the threshold.
"""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

pytest.importorskip("tensorflow")

from dpaudit.canary import run_canary_audit  # noqa: E402
from dpaudit.cli import cli  # noqa: E402
from dpaudit.config import load_config  # noqa: E402
from dpaudit.evidence import contradictions  # noqa: E402

@pytest.mark.slow
@pytest.mark.parametrize("trainer, caught", [("small_noise", True), ("no_clip", True),
                                             ("clip_after_mean", True), ("correct", False)])
def test_planted_bugs_are_caught_and_the_correct_trainer_passes(example_trainers, trainer,
                                                                caught):
    config = load_config(None, {"model.trainer": f"trainers.{trainer}:train",
                                "output.report": False, "output.save_models": False})
    result = run_canary_audit(config, num_canaries=128, runs=1, write=False)
    (attack,) = result.arm("dp").attacks
    assert attack.name == "canary_trainer_one_run"
    assert attack.conclusive is True and attack.ceiling > result.arm("dp").epsilon
    assert attack.rule_confidence == pytest.approx(0.999)
    assert bool(contradictions(result)) is caught
    assert result.verdict["passed"] is not caught




@pytest.mark.slow
def test_old_contract_at_old_settings_is_inconclusive_and_can_be_required(
        tmp_path, old_contract_trainer):
    old_contract_trainer("old_contract_trainer", epochs=1)
    # The documented claims: 100 members, batch 25, 20 epochs, noise 1.0 (epsilon ~13).
    args = ["canary-audit", "--trainer", "old_contract_trainer:train", "--members", "100",
            "--batch-size", "25", "--epochs", "20", "--noise-multiplier", "1.0",
            "--canaries", "60", "--no-report", "--no-save-models"]
    runner = CliRunner()
    plain = runner.invoke(cli, [*args, "--out", str(tmp_path / "a")])
    assert plain.exit_code == 0, plain.output
    assert "canary_blackbox_one_run" in plain.output  # old contract: audited as before
    assert "INCONCLUSIVE" in plain.output and "ceiling" in plain.output
    strict = runner.invoke(cli, [*args, "--require-conclusive", "--out", str(tmp_path / "b")])
    assert strict.exit_code == 1, strict.output
    assert "conclusive_audit" in strict.output
    sys.modules.pop("old_contract_trainer", None)
