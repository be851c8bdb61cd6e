"""Theory vs evidence: which comparisons are DP bugs, and what the report says about them."""

import math

import pytest

from dpaudit.results import ArmResult, AttackSummary, PrivacyInfo
from dpaudit.reports.evidence import Status, compare_arm, format_confidence


def _arm(bound: float, *, epsilon_rdp=2.0, epsilon_pld=1.5, delta=1e-5, bound_delta=1e-5,
         confidence=0.95, private=True) -> ArmResult:
    privacy = PrivacyInfo(noise_multiplier=1.0, l2_norm_clip=1.0, num_microbatches=None,
                          batch_size=32, sampling="poisson", steps=100, epochs=5.0,
                          dataset_size=640, delta=delta, epsilon_rdp=epsilon_rdp,
                          epsilon_pld=epsilon_pld)
    attack = AttackSummary(name="loss_threshold", auc=0.6, auc_ci=(0.5, 0.7), advantage=0.1,
                           tpr_at_fpr={}, epsilon_lower_bound=bound, confidence=confidence,
                           n_members=100, n_nonmembers=100, delta=bound_delta,
                           epsilon_lower_bound_method="clopper_pearson")
    return ArmResult("dp", None, privacy if private else None, (attack,))


def _row(*args, **kwargs):
    (row,) = compare_arm(_arm(*args, **kwargs))
    return row


def test_bound_above_the_tighter_epsilon_is_a_dp_bug():
    # 1.8 is below the RDP epsilon (2.0) but above the PLD one (1.5): both are valid upper
    # bounds, so exceeding the smaller one already contradicts the guarantee.
    row = _row(1.8)
    assert row.status == Status.VIOLATION and row.is_bug
    assert row.theoretical_epsilon == 1.5
    assert row.reading.startswith("DP BUG")
    assert "1.8" in row.reading and "1.5" in row.reading and "95%" in row.reading


def test_bound_equal_to_epsilon_up_to_rounding_is_not_a_bug():
    assert not _row(1.5 * (1 + 1e-12)).is_bug


def test_bound_at_a_smaller_delta_is_not_comparable_rather_than_a_bug():
    # epsilon(delta) grows as delta shrinks: a bound at delta=1e-7 may legitimately exceed
    # the accountant's epsilon at delta=1e-5.
    row = _row(1.8, bound_delta=1e-7)
    assert row.status == Status.NOT_COMPARABLE and not row.is_bug
    assert "not directly comparable" in row.reading


def test_bound_at_a_larger_delta_above_epsilon_is_still_a_bug():
    assert _row(1.8, bound_delta=1e-3).is_bug


@pytest.mark.parametrize("bound, fraction, phrase", [
    (0.15, 0.1, "large gap is typical"),
    (0.75, 0.5, "sizeable part"),
    (1.4, 1.4 / 1.5, "nearly tight"),
])
def test_consistent_bounds_read_the_size_of_the_gap(bound, fraction, phrase):
    row = _row(bound)
    assert row.status == Status.CONSISTENT
    assert row.fraction == pytest.approx(fraction)
    assert phrase in row.reading
    assert f"{100 * fraction:.0f}%" in row.reading


def test_zero_bound_certifies_nothing():
    row = _row(0.0)
    assert row.status == Status.NO_EVIDENCE and "certifies no leakage" in row.reading


def test_missing_bound_is_unavailable():
    row = _row(math.nan)
    assert row.status == Status.UNAVAILABLE and math.isnan(row.fraction)


def test_arm_without_dp_has_no_guarantee_to_contradict():
    leaky = _row(3.0, private=False)
    assert leaky.status == Status.NO_GUARANTEE and not leaky.is_bug
    assert "measurably leaks" in leaky.reading
    quiet = _row(0.0, private=False)
    assert "does not mean that there is none" in quiet.reading


def test_dp_arm_whose_accountant_gave_no_epsilon_has_no_guarantee():
    row = _row(3.0, epsilon_rdp=None, epsilon_pld=math.nan)
    assert row.theoretical_epsilon is None and row.status == Status.NO_GUARANTEE


def test_format_confidence():
    assert format_confidence(0.95) == "95%"
    assert format_confidence(0.999) == "99.9%"
    assert format_confidence(math.nan) == "unstated confidence"
