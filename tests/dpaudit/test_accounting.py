"""Tests of dpaudit.accounting: published reference values, two independent computations
that must agree, privacy properties (calibration never overshoots, monotonicity), honest
pricing of shuffled batches and microbatches, and argument validation."""

import dataclasses
import math

import dp_accounting
import pytest
from dp_accounting import rdp
from hypothesis import given, settings
from hypothesis import strategies as st

from dpaudit import accounting
from dpaudit.accounting import (calibrate_noise, compute_epsilon, dp_sgd_privacy,
                                dp_sgd_steps, effective_noise_multiplier, epsilon_per_epoch,
                                steps_per_epoch)
from dpaudit.errors import InputError

MNIST = dict(dataset_size=60000, batch_size=256, noise_multiplier=1.1, epochs=60, delta=1e-5)
# Small sampling rates keep dp_accounting's PLD construction fast (~0.3 s).
SMALL = dict(dataset_size=10000, batch_size=50, noise_multiplier=1.0, epochs=2, delta=1e-5)


# --- steps -------------------------------------------------------------------------

def test_steps_conventions():
    assert steps_per_epoch(60000, 256) == 235
    assert steps_per_epoch(100, 10) == 10
    assert steps_per_epoch(101, 10) == 11
    assert dp_sgd_steps(60000, 256, 60) == 14063  # TF Privacy: ceil(60 * 60000 / 256)
    assert dp_sgd_steps(60000, 256, 60.0) == 14063
    assert dp_sgd_steps(100, 10, 0.5) == 5
    assert dp_sgd_steps(100, 30, 0) == 0


# --- reference values ----------------------------------------------------------------

def test_reference_rdp_matches_tf_privacy():
    # TensorFlow Privacy 0.9 compute_dp_sgd_privacy reports 2.597 for this setting.
    assert compute_epsilon(**MNIST) == pytest.approx(2.597, abs=5e-4)


def test_reference_pld():
    assert compute_epsilon(**MNIST, accountant="pld") == pytest.approx(2.382, abs=1e-3)


def test_reference_rdp_second_setting():
    eps = compute_epsilon(dataset_size=60000, batch_size=150, noise_multiplier=1.3,
                          epochs=15, delta=1e-5)
    assert eps == pytest.approx(0.7242, abs=1e-4)


def test_rdp_agrees_with_direct_dp_accounting_call_with_tf_privacy_orders():
    # TF Privacy's own order grid, a separate accountant object and event built here.
    orders = [1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512]
    acc = rdp.RdpAccountant(orders)
    acc.compose(dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(256 / 60000, dp_accounting.GaussianDpEvent(1.1)),
        14063))
    assert compute_epsilon(**MNIST) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-3)


@pytest.mark.parametrize("sigma", [1.1, 3.0])
def test_rdp_and_pld_agree_and_pld_is_tighter(sigma):
    kw = dict(MNIST, noise_multiplier=sigma)
    eps_rdp = compute_epsilon(**kw)
    eps_pld = compute_epsilon(**kw, accountant="pld")
    # RDP's conversion to (eps, delta) is lossy, PLD is near-exact: same order, PLD lower.
    assert eps_pld <= eps_rdp
    assert eps_pld == pytest.approx(eps_rdp, rel=0.2)


def test_shuffle_bound_matches_analytic_gaussian_mechanism():
    # E-fold composition of a Gaussian with multiplier s is one Gaussian with s/sqrt(E);
    # its exact epsilon comes from Balle & Wang (ICML 2018), an independent formula.
    s = dp_sgd_privacy(**dict(SMALL, epochs=7), sampling="shuffle")
    exact = dp_accounting.get_epsilon_gaussian(1.0 / math.sqrt(7), 1e-5)
    assert s.compositions == 7
    assert s.epsilon_pld == pytest.approx(exact, rel=1e-3)
    assert s.epsilon_rdp >= exact


# --- privacy properties --------------------------------------------------------------

@pytest.mark.parametrize("acct", ["rdp", "pld"])
def test_epsilon_decreases_with_noise(acct):
    sigmas = (0.6, 0.8, 1.0, 1.5, 3.0, 10.0) if acct == "rdp" else (0.8, 1.0, 1.5, 3.0)
    eps = [compute_epsilon(**dict(SMALL, noise_multiplier=s), accountant=acct)
           for s in sigmas]
    assert all(a > b for a, b in zip(eps, eps[1:])), eps


@pytest.mark.parametrize("sampling", ["poisson", "shuffle"])
def test_epsilon_increases_with_steps(sampling):
    kw = {k: v for k, v in SMALL.items() if k != "epochs"}
    eps = [compute_epsilon(**kw, steps=t, sampling=sampling) for t in (0, 1, 20, 21, 100, 500)]
    assert eps[0] == 0.0
    assert all(a <= b for a, b in zip(eps, eps[1:])), eps
    assert eps[-1] > eps[1]


@pytest.mark.parametrize("acct", ["rdp", "pld"])
def test_edge_cases_return_values(acct):
    assert compute_epsilon(**dict(SMALL, noise_multiplier=0.0), accountant=acct) == math.inf
    kw = {k: v for k, v in SMALL.items() if k != "epochs"}
    assert compute_epsilon(**kw, steps=0, accountant=acct) == 0.0
    assert compute_epsilon(**dict(SMALL, epochs=0), accountant=acct) == 0.0


@settings(max_examples=10, deadline=None, derandomize=True)
@given(target=st.floats(0.3, 12.0), n=st.integers(100, 100_000),
       batch_fraction=st.floats(0.001, 1.0), epochs=st.integers(1, 40),
       log10_delta=st.floats(-8.0, -3.0))
def test_calibration_never_overshoots_and_is_tight(target, n, batch_fraction, epochs,
                                                    log10_delta):
    b = max(1, min(n, round(n * batch_fraction)))
    kw = dict(dataset_size=n, batch_size=b, epochs=epochs, delta=10.0 ** log10_delta)
    tol = 1e-3
    sigma = calibrate_noise(target_epsilon=target, tolerance=tol, **kw)
    assert compute_epsilon(noise_multiplier=sigma, **kw) <= target
    # Tight: a noise multiplier `tol` smaller already exceeds the target.
    assert compute_epsilon(noise_multiplier=sigma * (1 - tol), **kw) > target


@pytest.mark.parametrize("acct, check", [("pld", ("pld",)), ("both", ("rdp", "pld"))])
def test_calibration_against_pld_and_both(acct, check):
    # PLD evaluations cost ~0.4 s each; a coarser tolerance keeps this test short.
    kw = dict(dataset_size=10000, batch_size=50, epochs=5, delta=1e-5)
    tol = 1e-2
    sigma = calibrate_noise(target_epsilon=1.0, accountant=acct, tolerance=tol, **kw)
    for a in check:
        assert compute_epsilon(noise_multiplier=sigma, accountant=a, **kw) <= 1.0
    assert max(compute_epsilon(noise_multiplier=sigma * (1 - tol), accountant=a, **kw)
               for a in check) > 1.0
    if acct == "pld":  # PLD is tighter, so it needs less noise than RDP
        assert sigma < calibrate_noise(target_epsilon=1.0, **kw)


def test_calibration_for_shuffle_meets_the_valid_bound():
    kw = dict(dataset_size=1000, batch_size=50, epochs=5, delta=1e-5, sampling="shuffle")
    sigma = calibrate_noise(target_epsilon=8.0, **kw)
    assert dp_sgd_privacy(noise_multiplier=sigma, **kw).epsilon_rdp <= 8.0
    # Far more noise than Poisson accounting would (wrongly) ask for.
    assert sigma > 1.5 * calibrate_noise(target_epsilon=8.0, **dict(kw, sampling="poisson"))


def test_calibration_with_microbatches_doubles_the_noise():
    kw = dict(dataset_size=10000, batch_size=100, epochs=10, delta=1e-5)
    plain = calibrate_noise(target_epsilon=1.0, **kw)
    micro = calibrate_noise(target_epsilon=1.0, num_microbatches=10, **kw)
    assert micro == pytest.approx(2 * plain, rel=3e-3)
    assert compute_epsilon(noise_multiplier=micro, num_microbatches=10, **kw) <= 1.0


def test_unreachable_target_raises():
    with pytest.raises(InputError, match="target_epsilon .* needs a noise_multiplier above"):
        calibrate_noise(target_epsilon=1e-6, dataset_size=100, batch_size=100, steps=1000,
                        delta=1e-5)


# --- sampling honesty ----------------------------------------------------------------

def test_poisson_statement_is_plain():
    s = dp_sgd_privacy(**MNIST)
    assert s.epsilon_rdp == pytest.approx(2.597, abs=5e-4)
    assert s.epsilon_pld == pytest.approx(2.382, abs=1e-3)
    assert (s.poisson_epsilon_rdp, s.poisson_epsilon_pld) == (s.epsilon_rdp, s.epsilon_pld)
    assert s.note == ""
    assert s.steps == s.compositions == 14063
    assert s.sampling_rate == pytest.approx(256 / 60000)
    assert s.epsilon == s.epsilon_pld
    text = s.text()
    for piece in ("1e-05", "Poisson", "14063", "1.1", "add/remove", "q = B/N"):
        assert piece in text, piece


def test_shuffle_says_poisson_figure_is_not_valid_and_reports_a_valid_one():
    s = dp_sgd_privacy(**MNIST, sampling="shuffle")
    poisson = dp_sgd_privacy(**MNIST)
    assert "NOT a valid guarantee" in s.note and "Chua" in s.note
    assert f"{poisson.epsilon_rdp:.4g}" in s.note  # the Poisson figure is quoted
    assert s.note in s.text()
    assert s.poisson_epsilon_rdp == poisson.epsilon_rdp
    assert s.compositions == 60  # one Gaussian per epoch, no amplification
    assert s.epsilon_rdp > 10 * poisson.epsilon_rdp
    assert compute_epsilon(**MNIST, sampling="shuffle") == s.epsilon_rdp


def test_shuffle_partial_epochs_round_up():
    kw = dict(dataset_size=1000, batch_size=50, noise_multiplier=1.0, delta=1e-5)
    eps_one_epoch = compute_epsilon(**kw, steps=1, sampling="shuffle")
    assert compute_epsilon(**kw, steps=20, sampling="shuffle") == eps_one_epoch
    assert compute_epsilon(**kw, steps=21, sampling="shuffle") == compute_epsilon(
        **kw, steps=40, sampling="shuffle") > eps_one_epoch


# --- microbatches --------------------------------------------------------------------

def test_microbatches_halve_the_effective_noise():
    assert effective_noise_multiplier(1.1, batch_size=256, num_microbatches=32) == 0.55
    assert effective_noise_multiplier(1.1, batch_size=256, num_microbatches=256) == 1.1
    assert effective_noise_multiplier(1.1, batch_size=256) == 1.1
    kw = dict(SMALL, noise_multiplier=1.6)
    micro = compute_epsilon(**kw, num_microbatches=10)
    assert micro == compute_epsilon(**dict(kw, noise_multiplier=0.8))
    assert micro > compute_epsilon(**kw)
    assert compute_epsilon(**kw, num_microbatches=50) == compute_epsilon(**kw)
    s = dp_sgd_privacy(**kw, num_microbatches=10)
    assert s.effective_noise_multiplier == 0.8 and s.noise_multiplier == 1.6
    assert "2 * l2_norm_clip" in s.note and "1.6 / 2 = 0.8" in s.note
    assert "10 microbatches" in s.text()
    assert s.epsilon_pld == compute_epsilon(**dict(kw, noise_multiplier=0.8),
                                            accountant="pld")


# --- per epoch -----------------------------------------------------------------------

@pytest.mark.parametrize("sampling", ["poisson", "shuffle"])
def test_epsilon_per_epoch_matches_compute_epsilon(sampling):
    kw = dict(dataset_size=1000, batch_size=30, noise_multiplier=1.0, delta=1e-5,
              sampling=sampling)
    curve = epsilon_per_epoch(epochs=4, **kw)
    expected = [compute_epsilon(epochs=e, **kw) for e in range(1, 5)]
    assert curve == pytest.approx(expected, rel=1e-9)
    assert all(a < b for a, b in zip(curve, curve[1:]))


def test_epsilon_per_epoch_pld_matches_compute_epsilon():
    kw = dict(dataset_size=10000, batch_size=20, noise_multiplier=1.0, delta=1e-5)
    curve = epsilon_per_epoch(epochs=2, accountant="pld", **kw)
    expected = [compute_epsilon(epochs=e, accountant="pld", **kw) for e in (1, 2)]
    assert curve == pytest.approx(expected, rel=1e-3)


# --- statements and validation -------------------------------------------------------

def test_statement_is_frozen_and_serialisable():
    s = dp_sgd_privacy(**SMALL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.epsilon_rdp = 0.0  # type: ignore[misc]
    d = s.to_dict()
    for key in ("epsilon_rdp", "epsilon_pld", "delta", "sampling_rate", "steps",
                "noise_multiplier", "effective_noise_multiplier", "sampling", "note"):
        assert key in d


def test_delta_not_below_one_over_n_is_flagged():
    s = dp_sgd_privacy(**dict(SMALL, delta=1e-4))
    assert "not below 1/N" in s.note
    assert "not below 1/N" not in dp_sgd_privacy(**dict(SMALL, delta=9.9e-5)).note


def test_noise_zero_statement_says_no_guarantee():
    s = dp_sgd_privacy(**dict(SMALL, noise_multiplier=0.0))
    assert s.epsilon_rdp == s.epsilon_pld == math.inf
    assert "no privacy guarantee" in s.note and "inf" in s.text()


@pytest.mark.parametrize("override, message", [
    (dict(noise_multiplier=-1.0), "noise_multiplier must be non-negative, got -1.0"),
    (dict(noise_multiplier=float("nan")), "noise_multiplier must be a number"),
    (dict(batch_size=20000), "batch_size must not exceed dataset_size (10000), got 20000"),
    (dict(batch_size=0), "batch_size must be positive, got 0"),
    (dict(batch_size=2.5), "batch_size must be an integer, got 2.5"),
    (dict(batch_size=True), "batch_size must be an integer, got True"),
    (dict(dataset_size=0), "dataset_size must be positive, got 0"),
    (dict(delta=0.0), "delta must be in (0, 1), got 0.0"),
    (dict(delta=1.0), "delta must be in (0, 1), got 1.0"),
    (dict(delta=-1e-5), "delta must be in (0, 1)"),
    (dict(epochs=-1), "epochs must be non-negative, got -1.0"),
    (dict(epochs=math.inf), "epochs must be finite"),
    (dict(epochs=None, steps=-3), "steps must be non-negative, got -3"),
    (dict(steps=10), "give exactly one of steps and epochs, got both"),
    (dict(epochs=None), "give exactly one of steps and epochs, got neither"),
    (dict(num_microbatches=0), "num_microbatches must be positive, got 0"),
    (dict(num_microbatches=51), "num_microbatches must be <= 50, got 51"),
    (dict(sampling="uniform"), "sampling must be one of 'poisson', 'shuffle', got 'uniform'"),
    (dict(accountant="gdp"), "accountant must be one of 'rdp', 'pld', got 'gdp'"),
])
def test_bad_arguments_name_the_argument_and_rule(override, message):
    with pytest.raises(InputError) as info:
        compute_epsilon(**dict(SMALL, **override))
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("override, message", [
    (dict(target_epsilon=0.0), "target_epsilon must be positive, got 0.0"),
    (dict(target_epsilon=-1.0), "target_epsilon must be positive"),
    (dict(target_epsilon=math.inf), "target_epsilon must be finite"),
    (dict(epochs=0), "epochs must be positive"),
    (dict(epochs=None, steps=0), "steps must be positive, got 0"),
    (dict(accountant="gdp"), "accountant must be one of 'rdp', 'pld', 'both'"),
    (dict(tolerance=0.0), "tolerance must be in (0, 1)"),
    (dict(delta=2.0), "delta must be in (0, 1)"),
])
def test_bad_calibration_arguments(override, message):
    kw = dict(target_epsilon=1.0, dataset_size=1000, batch_size=50, epochs=5, delta=1e-5)
    with pytest.raises(InputError) as info:
        calibrate_noise(**dict(kw, **override))
    assert message in str(info.value)


def test_bad_epochs_for_per_epoch_curve():
    with pytest.raises(InputError, match="epochs must be an integer"):
        epsilon_per_epoch(**dict(SMALL, epochs=1.5))
    with pytest.raises(InputError, match="epochs must be positive"):
        epsilon_per_epoch(**dict(SMALL, epochs=0))


def test_module_does_not_import_tensorflow():
    import subprocess
    import sys
    code = ("import sys, dpaudit.accounting\n"
            "assert not [m for m in ('tensorflow', 'keras') if m in sys.modules]\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert "calibrate_noise" in accounting.__all__
