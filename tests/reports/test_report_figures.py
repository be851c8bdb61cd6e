"""Unit tests for the figure builders: right data in the right place, valid plotly, no crash
on missing fields."""

import dataclasses
import math

import plotly.graph_objects as go
import pytest

from dpaudit.results import ArmResult, AttackSummary, PrivacyInfo
from dpaudit.reports import figures
from dpaudit.reports.evidence import compare_arm


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

def test_histogram_shows_fractions_of_each_group_at_bin_centres():
    attack = _attack(score_histogram={"edges": [0.0, 1.0, 3.0], "members": [1, 3],
                                      "nonmembers": [4, 4]})
    fig = _valid(figures.score_histogram_figure("dp", attack))
    members, nonmembers = fig.data
    assert members.name == "members" and nonmembers.name == "non-members"
    assert list(members.x) == [0.5, 2.0] and list(members.width) == [1.0, 2.0]
    assert list(members.y) == [0.25, 0.75] and list(nonmembers.y) == [0.5, 0.5]
    assert fig.layout.barmode == "overlay"
    assert "-loss" in fig.layout.xaxis.title.text  # loss attack: score is the negated loss


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

def test_epsilon_per_epoch_plots_dp_arms_with_their_strongest_lower_bound(result):
    fig = _valid(figures.epsilon_per_epoch_figure(result.arms))
    dp = result.arm("dp")
    eps, bound = fig.data  # the baseline has no privacy info and no trace
    assert list(eps.x) == list(range(1, len(dp.privacy.epsilon_per_epoch) + 1))
    assert list(eps.y) == pytest.approx(list(dp.privacy.epsilon_per_epoch))
    assert set(bound.y) == {max(a.epsilon_lower_bound for a in dp.attacks)}


def test_epsilon_per_epoch_without_values_is_none(result):
    dp = result.arm("dp")
    empty = dataclasses.replace(dp, privacy=dataclasses.replace(dp.privacy,
                                                                epsilon_per_epoch=()))
    assert figures.epsilon_per_epoch_figure([result.arm("baseline"), empty]) is None
    assert figures.epsilon_per_epoch_figure([]) is None


def test_epsilon_per_epoch_shows_nan_as_a_gap():
    privacy = PrivacyInfo(noise_multiplier=1.0, l2_norm_clip=1.0, num_microbatches=None,
                          batch_size=10, sampling="poisson", steps=10, epochs=2.0,
                          dataset_size=100, delta=1e-5, epsilon_rdp=1.0, epsilon_pld=1.0,
                          epsilon_per_epoch=(0.5, math.nan, 1.0))
    fig = _valid(figures.epsilon_per_epoch_figure([ArmResult("dp", None, privacy, ())]))
    assert list(fig.data[0].y) == [0.5, None, 1.0]


# Per-class AUC -----------------------------------------------------------------------------

def test_per_class_auc_bars_start_at_chance_and_classes_sort_numerically():
    a = _attack(per_class_auc={"10": 0.7, "2": 0.4, "1": 0.5})
    b = _attack(per_class_auc={"2": 0.6})
    fig = _valid(figures.per_class_auc_figure("a", [("baseline", a), ("dp", b)]))
    base, dp = fig.data
    assert list(base.x) == ["1", "2", "10"]
    assert base.base == 0.5
    assert list(base.y) == pytest.approx([0.0, -0.1, 0.2])
    assert list(base.customdata) == pytest.approx([0.5, 0.4, 0.7])
    assert list(dp.y)[0] is None and list(dp.y)[1] == pytest.approx(0.1)  # missing classes
    assert fig.layout.xaxis.type == "category"


def test_per_class_auc_without_values_is_none():
    assert figures.per_class_auc_figure("a", [("dp", _attack())]) is None


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
                     roc={"fpr": [0.1, 1.0], "tpr": [0.2, 1.0]})
    roc = _valid(figures.roc_figure(attack.name, [("<a href='http://x'>arm</a>", attack)]))
    assert roc.data[0].name.startswith("&lt;a href='http://x'&gt;arm&lt;/a&gt;")
    assert roc.layout.title.text == "ROC: &lt;b&gt;x&lt;/b&gt;"
    per_class = _valid(figures.per_class_auc_figure(attack.name, [("dp", attack)]))
    assert list(per_class.data[0].x) == ["&lt;i&gt;c&lt;/i&gt;"]


def test_arm_colours_are_stable():
    assert figures.arm_color("baseline") != figures.arm_color("dp")
    assert figures.arm_color("dp", 3) == figures.arm_color("dp", 0)
