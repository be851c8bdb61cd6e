"""The DP training plan (one definition priced and run), the bounded PLD, extreme inputs,
incremental per-epoch epsilon, and infinite epsilon in results.json (issue 13 items 4-7)."""

import dataclasses
import json
import math
import subprocess
import sys
import time

import dp_accounting
import pytest
from dp_accounting import rdp

from dpaudit import accounting
from dpaudit.accounting import DPTrainingPlan, compute_epsilon, plan_epsilon
from dpaudit.accounting import _pld
from dpaudit.errors import InputError
from dpaudit.gate import Policy, evaluate_gate
from dpaudit.results import ArmResult, AuditResult, PrivacyInfo, Utility, load_results, save_results

PLAN = dict(dataset_size=10000, batch_size=50, noise_multiplier=1.0, delta=1e-5,
            l2_norm_clip=1.0)


# --- the plan ------------------------------------------------------------------------

def test_plan_event_is_what_is_priced():
    plan = DPTrainingPlan.for_epochs(epochs=2, **PLAN)
    assert plan.steps == 400 and plan.sampling_rate == 0.005
    # An accountant built here from the plan's event agrees with plan_epsilon.
    acc = rdp.RdpAccountant()
    acc.compose(plan.dp_event())
    assert plan_epsilon(plan) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-12)
    assert plan_epsilon(plan) == compute_epsilon(steps=400, **{
        k: v for k, v in PLAN.items() if k != "l2_norm_clip"})
    event = plan.dp_event()
    assert isinstance(event, dp_accounting.SelfComposedDpEvent) and event.count == 400


def test_plan_shuffle_and_microbatches_are_priced_as_documented():
    plan = DPTrainingPlan(steps=450, sampling="shuffle", num_microbatches=10, **PLAN)
    assert plan.compositions == 3  # ceil(450 / 200)
    assert plan.effective_noise_multiplier == 0.5
    event = plan.dp_event()
    assert event.count == 3 and event.event == dp_accounting.GaussianDpEvent(0.5)


@pytest.mark.parametrize("override, message", [
    (dict(noise_multiplier=math.inf), "noise_multiplier must be finite"),
    (dict(noise_multiplier=1e300), "noise_multiplier must be at most 1e\\+06"),
    (dict(steps=10**20), "steps must be at most 1e\\+12"),
    (dict(l2_norm_clip=True), "l2_norm_clip must be a number"),
    (dict(sampling="random"), "sampling must be one of"),
])
def test_plan_refuses_extreme_or_bad_values(override, message):
    with pytest.raises(InputError, match=message):
        DPTrainingPlan(**dict(dict(PLAN, steps=10), **override))


def test_plan_is_frozen():
    plan = DPTrainingPlan(steps=1, **PLAN)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.steps = 2


# --- bounded PLD (item 5) -----------------------------------------------------------------

def test_pld_default_grid_unchanged_for_ordinary_runs():
    eps, interval = _pld.poisson_gaussian_epsilon(sigma=1.1, sampling_rate=256 / 60000,
                                                  steps=14063, delta=1e-5)
    assert interval == _pld.DEFAULT_INTERVAL
    assert eps == pytest.approx(2.382, abs=1e-3)  # the published PLD reference value


def test_pld_coarse_grid_is_still_an_upper_bound(monkeypatch):
    kw = dict(sigma=1.5, sampling_rate=0.02, steps=50, delta=1e-5)
    fine, _ = _pld.poisson_gaussian_epsilon(**kw)
    # Force the budget to bind: a coarser pessimistic grid may only raise epsilon.
    monkeypatch.setattr(_pld, "_MAX_COMPOSED_POINTS", 20000)
    coarse, interval = _pld.poisson_gaussian_epsilon(**kw)
    assert interval > _pld.DEFAULT_INTERVAL
    assert fine <= coarse <= 1.2 * fine


@pytest.mark.slow
def test_small_noise_is_bounded_in_time_and_falls_back_to_rdp():
    # Noise 0.01 on MNIST-sized runs never finished before; now the PLD is skipped.
    plan = DPTrainingPlan(dataset_size=60000, batch_size=256, steps=14063,
                          noise_multiplier=0.01, delta=1e-5)
    start = time.perf_counter()
    statement = accounting.statement_of_plan(plan)
    assert time.perf_counter() - start < 60
    assert statement.epsilon_pld is None and statement.epsilon_rdp > 1000
    assert "RDP figure is reported alone" in statement.note
    assert statement.epsilon == statement.epsilon_rdp
    # compute_epsilon(accountant="pld") answers with the RDP upper bound instead.
    assert compute_epsilon(steps=14063, dataset_size=60000, batch_size=256,
                           noise_multiplier=0.01, delta=1e-5,
                           accountant="pld") == statement.epsilon_rdp


# --- incremental per-epoch epsilon (item 7) ------------------------------------------

def test_epsilons_after_steps_match_fresh_accountants_and_are_one_evaluation(monkeypatch):
    plan = DPTrainingPlan(steps=400, **PLAN)
    steps = [0, 100, 200, 400]
    expected = [compute_epsilon(steps=s, **{k: v for k, v in PLAN.items()
                                            if k != "l2_norm_clip"}) for s in steps]
    calls = []
    original = rdp.RdpAccountant.compose
    monkeypatch.setattr(rdp.RdpAccountant, "compose",
                        lambda self, *a, **k: (calls.append(1), original(self, *a, **k))[1])
    assert accounting.epsilons_after_steps(plan, steps) == pytest.approx(expected, rel=1e-12)
    assert len(calls) == 1  # one RDP evaluation for the whole curve


def test_privacy_info_carries_the_per_epoch_curve():
    info = accounting.privacy_info(dataset_size=10000, batch_size=50, noise_multiplier=1.0,
                                   l2_norm_clip=1.0, delta=1e-5, steps=400, epochs=2,
                                   sampling="poisson", num_microbatches=None,
                                   epoch_steps=(200, 400))
    assert info.epsilon_per_epoch[-1] == pytest.approx(info.epsilon_rdp, rel=1e-12)
    assert info.epsilon_per_epoch[0] < info.epsilon_per_epoch[1]


# --- infinite epsilon in results.json (item 4) --------------------------------------------

def _no_noise_result() -> AuditResult:
    info = accounting.privacy_info(dataset_size=1000, batch_size=50, noise_multiplier=0.0,
                                   l2_norm_clip=1.0, delta=1e-5, steps=40, epochs=2,
                                   sampling="poisson", num_microbatches=None,
                                   epoch_steps=(20, 40))
    assert info.epsilon_rdp == math.inf and info.epsilon_pld == math.inf
    return AuditResult(config={}, environment={}, data={}, arms=(
        ArmResult("dp", Utility(1.0, 0.9, 0.0, 0.3), info, ()),))


def test_infinite_epsilon_round_trips_distinct_from_no_dp(tmp_path):
    path = save_results(_no_noise_result(), tmp_path / "results.json")
    raw = json.loads(path.read_text())
    privacy = raw["arms"][0]["privacy"]
    assert privacy["epsilon_rdp"] == "inf" and privacy["epsilon_pld"] == "inf"
    assert privacy["epsilon_per_epoch"] == ["inf", "inf"]
    arm = load_results(path).arm("dp")
    assert arm.epsilon == math.inf and arm.privacy.epsilon_per_epoch == (math.inf, math.inf)
    # The gate sees a DP claim with an infinite epsilon, not "no arm claims DP".
    verdict = evaluate_gate(load_results(path), Policy.from_options(max_epsilon=8.0))
    outcome = [o for o in verdict.rules if o.rule == "max_epsilon"][0]
    assert not outcome.passed and "no arm" not in outcome.message
    assert math.isinf(outcome.measured)


def test_bad_epsilon_string_is_an_input_error(tmp_path):
    path = save_results(_no_noise_result(), tmp_path / "results.json")
    path.write_text(path.read_text().replace('"inf"', '"lots"', 1))
    with pytest.raises(InputError, match="results.json"):
        load_results(path)


def test_non_dp_arm_still_reads_as_null():
    info = PrivacyInfo(noise_multiplier=0.0, l2_norm_clip=None, num_microbatches=None,
                       batch_size=50, sampling="poisson", steps=40, epochs=2.0,
                       dataset_size=1000, delta=None, epsilon_rdp=None, epsilon_pld=None)
    result = AuditResult(config={}, environment={}, data={}, arms=(
        ArmResult("baseline", Utility(1.0, 0.9, 0.0, 0.3), info, ()),))
    raw = result.to_dict()["arms"][0]["privacy"]
    assert raw["epsilon_rdp"] is None
    assert AuditResult.from_dict(result.to_dict()).arm("baseline").epsilon is None


# --- the CLI (items 5, 6, 11) -------------------------------------------------------------

def test_closed_pipe_is_not_an_error():
    # The reader is gone before the command writes (import takes a second or more).
    proc = subprocess.Popen(
        [sys.executable, "-c", "from dpaudit.cli import main; main()", "epsilon",
         "--dataset-size", "1000", "--batch-size", "50", "--steps", "20", "--delta", "1e-5",
         "--noise-multiplier", "1", "--accountant", "rdp"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert b"BrokenPipe" not in err and b"internal error" not in err
