"""Unit tests for the figure builders: right data in the right place, valid plotly, no crash
on missing fields."""

import dataclasses
import math

import numpy as np
import plotly.graph_objects as go
import pytest

from dpaudit.reports import figures, figures_training
from dpaudit.reports.evidence import compare_arm
from dpaudit.results import ArmResult, AttackSummary, PrivacyInfo


def _valid(fig: dict) -> go.Figure:
    # plotly.py's Figure rejects unknown properties and invalid values, which plotly.js
    # would silently ignore; every builder's output goes through it.
    assert set(fig) == {"data", "layout"}
    return go.Figure(fig)


def _attack(**changes) -> AttackSummary:
    base = AttackSummary(name="loss_threshold", auc=0.6, auc_ci=(0.55, 0.65), advantage=0.1,
                         tpr_at_fpr={}, epsilon_lower_bound=0.5, confidence=0.95,
                         n_members=100, n_nonmembers=100)
    return dataclasses.replace(base, **changes)


# ROC ---------------------------------------------------------------------------------------

def test_roc_is_log_log_with_one_trace_per_arm_and_a_chance_line(result):
    curves = [(arm.name, arm.attacks[0]) for arm in result.arms]
    fig = _valid(figures.roc_figure("loss_threshold", curves))
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    names = [t.name for t in fig.data]
    assert names[0].startswith("baseline (AUC ") and names[1].startswith("dp (AUC ")
    assert names[-1] == "random guess"
    chance = fig.data[-1]
    assert list(chance.x) == list(chance.y)
    # The axes reach down to the resolution of the non-member set (1/600).
    assert 10 ** fig.layout.xaxis.range[0] <= 1 / 600


def test_roc_drops_points_that_a_log_axis_cannot_show():
    attack = _attack(roc={"fpr": [0.0, 0.0, 0.01, 0.5, 1.0], "tpr": [0.0, 0.2, 0.3, 0.7, 1.0]})
    fig = _valid(figures.roc_figure("a", [("dp", attack)]))
    assert list(fig.data[0].x) == [0.01, 0.5, 1.0]
    assert list(fig.data[0].y) == [0.3, 0.7, 1.0]


@pytest.mark.parametrize("roc", [{}, {"fpr": [0.0], "tpr": [0.0]},
                                 {"fpr": [0.1, 0.2], "tpr": [0.5]},  # inconsistent lengths
                                 {"fpr": [None, math.nan], "tpr": [0.5, 0.6]}])
def test_roc_without_plottable_points_is_none(roc):
    assert figures.roc_figure("a", [("dp", _attack(roc=roc))]) is None


def test_roc_keeps_the_arms_that_have_points():
    good = _attack(roc={"fpr": [0.1, 1.0], "tpr": [0.2, 1.0]})
    fig = _valid(figures.roc_figure("a", [("baseline", _attack()), ("dp", good)]))
    assert [t.name for t in fig.data] == ["dp (AUC 0.600)", "random guess"]


# Histogram ---------------------------------------------------------------------------------

def test_histogram_shows_fractions_of_each_group_on_the_pooled_percentile_axis():
    attack = _attack(score_histogram={"edges": [0.0, 1.0, 3.0], "members": [1, 3],
                                      "nonmembers": [4, 4]})
    fig = _valid(figures.score_histogram_figure("dp", attack))
    members, nonmembers = fig.data
    assert members.name == "members" and nonmembers.name == "non-members"
    # 5 of 12 pooled examples in the first bin: it spans percentiles 0 to 41.7.
    assert list(members.x) == pytest.approx([250 / 12, 100 * 5 / 12 + 350 / 12])
    assert list(members.width) == pytest.approx([500 / 12, 700 / 12])
    assert list(members.y) == [0.25, 0.75] and list(nonmembers.y) == [0.5, 0.5]
    assert list(members.customdata) == ["0 to 1", "1 to 3"]  # raw scores on hover
    assert fig.layout.barmode == "overlay" and "percentile" in fig.layout.xaxis.title.text


def test_histogram_of_a_memorising_model_separates_members_on_quantile_bins():
    """The issue's case: losses near 0 for nearly everyone. Quantile bins (as dpaudit
    stores them) spread the groups, so the top fifth of the axis holds most members."""
    from dpaudit.audit.summary import _quantile_histogram

    rng = np.random.default_rng(0)
    members = -rng.exponential(1e-4, 300)      # member losses ~1e-4
    nonmembers = -rng.exponential(1e-2, 300)   # non-member losses ~1e-2
    scores = np.concatenate([members, nonmembers])
    is_member = np.arange(600) < 300
    hist = _quantile_histogram(scores, is_member, bins=30)
    fig = _valid(figures.score_histogram_figure("baseline", _attack(score_histogram=hist)))
    m, n = fig.data
    top_members = sum(y for x, y in zip(m.x, m.y) if x > 50)
    top_nonmembers = sum(y for x, y in zip(n.x, n.y) if x > 50)
    # Deterministic (seed 0): members dominate the upper half of the axis.
    assert top_members > 0.9 and top_nonmembers < 0.1
    assert max(m.y) < 0.1  # no single bar holds almost everyone


@pytest.mark.parametrize("hist", [
    {},
    {"edges": [0.0, 1.0], "members": [1, 2], "nonmembers": [1, 2]},
    {"edges": [0.0, 1.0, 2.0], "members": [1, 2], "nonmembers": [1]},
    {"edges": "garbage", "members": [1], "nonmembers": [1]},
])
def test_histogram_missing_or_inconsistent_is_none(hist):
    assert figures.score_histogram_figure("dp", _attack(score_histogram=hist)) is None


def test_histogram_of_an_empty_group_has_gaps_not_division_errors():
    attack = _attack(score_histogram={"edges": [0.0, 1.0, 2.0], "members": [0, 0],
                                      "nonmembers": [1, 1]})
    fig = _valid(figures.score_histogram_figure("dp", attack))
    assert list(fig.data[0].y) == [None, None]


# Epsilon per epoch -------------------------------------------------------------------------

def test_epsilon_per_epoch_names_its_accountant_and_ends_at_the_headline(result):
    fig = _valid(figures_training.epsilon_per_epoch_figure(result.arms))
    dp = result.arm("dp")
    eps, bound = fig.data  # the baseline has no privacy info and no trace
    assert list(eps.x) == list(range(1, len(dp.privacy.epsilon_per_epoch) + 1))
    priced = [y for y in eps.y if y is not None]
    assert len(priced) == 5 and priced[-1] == dp.epsilon  # one epsilon everywhere
    assert eps.connectgaps and "PLD" in eps.name and "PLD accountant" in fig.layout.title.text
    assert set(bound.y) == {max(a.epsilon_lower_bound for a in dp.attacks)}


def test_epsilon_per_epoch_of_an_older_file_marks_the_headline_it_does_not_reach(result):
    """Older files stored RDP per epoch while the headline is PLD's: say both, named."""
    dp = result.arm("dp")
    rdp = [dp.privacy.epsilon_rdp * e / 30 for e in range(1, 31)]
    old = dataclasses.replace(dp, privacy=dataclasses.replace(
        dp.privacy, epsilon_per_epoch=rdp, epsilon_per_epoch_accountant=""))
    fig = _valid(figures_training.epsilon_per_epoch_figure([old]))
    names = [t.name for t in fig.data]
    assert names[:2] == ["dp: epsilon (RDP)", "dp: headline epsilon (PLD)"]
    assert list(fig.data[1].y) == [dp.epsilon] and list(fig.data[1].x) == [30]
    assert "PLD and RDP accountant" in fig.layout.title.text


def test_epsilon_per_epoch_without_values_is_none(result):
    dp = result.arm("dp")
    empty = dataclasses.replace(dp, privacy=dataclasses.replace(dp.privacy,
                                                                epsilon_per_epoch=()))
    assert figures_training.epsilon_per_epoch_figure([result.arm("baseline"), empty]) is None
    assert figures_training.epsilon_per_epoch_figure([]) is None


def test_epsilon_per_epoch_shows_nan_as_a_gap():
    privacy = PrivacyInfo(noise_multiplier=1.0, l2_norm_clip=1.0, num_microbatches=None,
                          batch_size=10, sampling="poisson", steps=10, epochs=2.0,
                          dataset_size=100, delta=1e-5, epsilon_rdp=1.0, epsilon_pld=1.0,
                          epsilon_per_epoch=(0.5, math.nan, 1.0))
    fig = _valid(figures_training.epsilon_per_epoch_figure([ArmResult("dp", None, privacy, ())]))
    assert list(fig.data[0].y) == [0.5, None, 1.0]


# Leakage over training ---------------------------------------------------------------------

def test_leakage_per_epoch_plots_each_arm_beside_epsilon_on_a_second_axis(result):
    fig = _valid(figures_training.leakage_per_epoch_figure(result.arms))
    base, dp, eps = fig.data
    assert base.name == "baseline: loss_threshold AUC" and list(base.x) == [1, 8, 16, 23, 30]
    assert list(dp.y) == pytest.approx(result.arm("dp").leakage_per_epoch["auc"])
    assert eps.yaxis == "y2" and "PLD" in eps.name
    assert eps.y[-1] == result.arm("dp").epsilon and list(eps.x) == [1, 8, 16, 23, 30]
    assert fig.layout.yaxis2.overlaying == "y"


def test_leakage_per_epoch_without_records_is_none(result):
    arms = [dataclasses.replace(a, leakage_per_epoch={}) for a in result.arms]
    assert figures_training.leakage_per_epoch_figure(arms) is None
    bad = [dataclasses.replace(result.arm("dp"), leakage_per_epoch={"epoch": [1, 2],
                                                                    "auc": [0.5]})]
    assert figures_training.leakage_per_epoch_figure(bad) is None


# Per-class AUC -----------------------------------------------------------------------------

def test_per_class_auc_has_intervals_and_hides_classes_whose_interval_spans_chance():
    a = _attack(per_class_auc={"10": 0.9, "2": 0.2, "1": 0.55, "3": 0.75},
                per_class_counts={"10": [40, 40], "2": [40, 40], "1": [40, 40], "3": [3, 3]})
    b = _attack(per_class_auc={"2": 0.8}, per_class_counts={"2": [50, 50]})
    fig = _valid(figures.per_class_auc_figure("a", [("baseline", a), ("dp", b)]))
    base, dp = fig.data
    # Class 1 (0.55 on 40+40) and class 3 (0.75 on 3+3) cannot be told from chance.
    assert list(base.x) == ["2", "10"]
    assert base.base == 0.5
    assert list(base.y) == pytest.approx([-0.3, 0.4])
    assert list(dp.y)[0] == pytest.approx(0.3) and list(dp.y)[1] is None  # missing class
    assert all(lo > 0 and hi > 0 for lo, hi in zip(base.error_y.arrayminus, base.error_y.array))
    assert "2 of 5 class results hidden" in fig.layout.xaxis.title.text
    assert fig.layout.xaxis.type == "category"


def test_per_class_interval_matches_hanley_mcneil_and_its_coverage():
    """Reference: the paper's formula by hand; and a statistical check that the interval
    covers the true AUC about 95% of the time for 40+40 examples (seed 0, 400 draws:
    coverage s.e. ~1.1%, so [0.91, 0.99] fails by chance with probability < 1e-3)."""
    attack = _attack(per_class_auc={"0": 0.8}, per_class_counts={"0": [30, 20]})
    auc, lo, hi = figures.per_class_intervals(attack)["0"]
    q1, q2 = 0.8 / 1.2, 2 * 0.64 / 1.8
    se = math.sqrt((0.8 * 0.2 + 29 * (q1 - 0.64) + 19 * (q2 - 0.64)) / 600)
    assert (lo, hi) == pytest.approx((0.8 - 1.959964 * se, 0.8 + 1.959964 * se))
    rng = np.random.default_rng(0)
    shift, true_auc = 1.0, 0.7602499  # Phi(1 / sqrt 2)
    covered = 0
    for _ in range(400):
        m, n = rng.normal(shift, 1, 40), rng.normal(0, 1, 40)
        a = float(np.mean(m[:, None] > n[None, :]))
        _, lo, hi = figures.per_class_intervals(
            _attack(per_class_auc={"0": a}, per_class_counts={"0": [40, 40]}))["0"]
        covered += lo <= true_auc <= hi
    assert 0.91 <= covered / 400 <= 0.99, covered


def test_per_class_auc_without_values_or_sizes_is_none():
    assert figures.per_class_auc_figure("a", [("dp", _attack())]) is None
    # An older file has AUCs but no class sizes: no interval, so nothing is drawn.
    assert figures.per_class_auc_figure("a", [("dp", _attack(per_class_auc={"1": 0.9}))]) is None


# Theory vs evidence ------------------------------------------------------------------------

def test_theory_vs_evidence_marks_a_bound_above_epsilon_as_a_bug(result):
    dp = result.arm("dp")
    broken = dataclasses.replace(dp, attacks=(
        dataclasses.replace(dp.attacks[0], epsilon_lower_bound=dp.epsilon * 2),
        dp.attacks[1]))
    rows = compare_arm(result.arm("baseline")) + compare_arm(broken)
    fig = _valid(figures.theory_vs_evidence_figure(rows))
    bars = {t.name: t for t in fig.data if t.type == "bar"}
    first = bars["loss_threshold: lower bound"]
    assert list(first.y) == ["baseline", "dp"]
    assert first.marker.line.width[1] > 0 and first.marker.line.width[0] == 0
    assert list(bars["shadow: lower bound"].marker.line.width) == [0, 0]
    theory = next(t for t in fig.data if t.name == "theoretical epsilon")
    assert list(theory.x) == [pytest.approx(dp.epsilon)] and list(theory.y) == ["dp"]


def test_theory_vs_evidence_without_numbers_is_none():
    arm = ArmResult("baseline", None, None, (_attack(epsilon_lower_bound=math.nan),))
    assert figures.theory_vs_evidence_figure(compare_arm(arm)) is None
    assert figures.theory_vs_evidence_figure([]) is None


# Text from the results ---------------------------------------------------------------------

def test_names_from_the_results_are_escaped_for_plotly_labels():
    attack = _attack(name="<b>x</b>", per_class_auc={"<i>c</i>": 0.6},
                     per_class_counts={"<i>c</i>": [500, 500]},
                     roc={"fpr": [0.1, 1.0], "tpr": [0.2, 1.0]})
    roc = _valid(figures.roc_figure(attack.name, [("<a href='http://x'>arm</a>", attack)]))
    assert roc.data[0].name.startswith("&lt;a href='http://x'&gt;arm&lt;/a&gt;")
    assert roc.layout.title.text == "ROC: &lt;b&gt;x&lt;/b&gt;"
    per_class = _valid(figures.per_class_auc_figure(attack.name, [("dp", attack)]))
    assert list(per_class.data[0].x) == ["&lt;i&gt;c&lt;/i&gt;"]


def test_arm_colours_are_stable():
    assert figures.arm_color("baseline") != figures.arm_color("dp")
    assert figures.arm_color("dp", 3) == figures.arm_color("dp", 0)
