"""The highest ROC a DP guarantee allows (reports._theory) and the ROC plot that draws it.

Reference tests write the bound of Kairouz, Oh & Viswanath (2015) as a naive loop over the
(epsilon, delta) pairs; soundness and tightness are checked against the Gaussian
mechanism, whose exact ROC is Phi(Phi^-1(FPR) + mu) (Dong, Roth & Su, "Gaussian
differential privacy", 2019) and whose exact (epsilon, delta) curve `conftest` builds.
"""

import math

import numpy as np
import plotly.graph_objects as go
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from dpaudit.reports import figures
from dpaudit.reports._theory import contradicting_points, dkw_margin, roc_ceiling

from .conftest import gaussian_dp_curve


def _mu_of(epsilon: float, delta: float = 1e-5) -> float:
    def delta_of(m):
        return norm.cdf(-epsilon / m + m / 2) - math.exp(epsilon) * norm.cdf(-epsilon / m - m / 2)
    return brentq(lambda m: delta_of(m) - delta, 1e-3, 50)


def _naive_ceiling(fpr: float, pairs) -> float:
    best = 1.0
    for eps, delta in pairs:
        best = min(best, math.exp(eps) * fpr + delta,
                   1 - math.exp(-eps) * (1 - delta - fpr))
    return max(0.0, best)


def test_ceiling_matches_the_papers_bound_written_as_a_loop():
    pairs = [(0.5, 1e-3), (1.0, 1e-5), (3.0, 1e-9), (30.0, 0.0)]
    fpr = [0.0, 1e-4, 1e-3, 0.01, 0.1, 0.5, 0.99, 1.0]
    got = roc_ceiling(fpr, *zip(*pairs))
    assert got.tolist() == pytest.approx([_naive_ceiling(f, pairs) for f in fpr], abs=1e-12)
    # Epsilon 0 and delta 0: no attack beats guessing.
    assert roc_ceiling(fpr, [0.0], [0.0]).tolist() == pytest.approx(fpr)


@pytest.mark.parametrize("epsilon", [0.5, 2.0, 8.0])
def test_ceiling_from_the_gaussian_curve_is_sound_and_tight(epsilon):
    """Sound: the mechanism's exact ROC never rises above it. Tight: within 0.02 of it on
    the 61-point delta grid dpaudit stores (measured max gap: 0.0005 at epsilon 0.5,
    0.0025 at 2, 0.016 at 8, where deltas above 0.5 would be needed at high FPR)."""
    mu = _mu_of(epsilon)
    curve = gaussian_dp_curve(epsilon)
    fpr = np.logspace(-6, 0, 400)
    exact = norm.cdf(norm.ppf(fpr) + mu)
    ceiling = roc_ceiling(fpr, curve["epsilon"], curve["delta"])
    assert np.all(ceiling >= exact - 1e-9)
    assert np.max(ceiling - exact) < 0.02


def _sampled_roc(mu: float, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    members, nonmembers = rng.normal(mu, 1, n), rng.normal(0, 1, n)
    thresholds = np.sort(np.concatenate([members, nonmembers]))[::-1]
    return {"fpr": [float(np.mean(nonmembers >= t)) for t in thresholds[::20]],
            "tpr": [float(np.mean(members >= t)) for t in thresholds[::20]]}


def test_a_correct_mechanism_is_not_flagged_and_a_leakier_one_is():
    """Scores of a mu-GDP test (members N(mu, 1), non-members N(0, 1)) against the curve
    of that mu: no flag (the DKW band makes a false flag at most 5% likely; seed 0). The
    same test on a mechanism 3x as leaky is flagged at many points."""
    curve = gaussian_dp_curve(2.0)
    mu = _mu_of(2.0)
    fine = _sampled_roc(mu, 4000, seed=0)
    assert contradicting_points(fine, curve, n_members=4000, n_nonmembers=4000) == []
    leaky = _sampled_roc(3 * mu + 1, 4000, seed=0)
    flagged = contradicting_points(leaky, curve, n_members=4000, n_nonmembers=4000)
    assert len(flagged) >= 10
    # Each flagged point is above the ceiling by more than both DKW margins.
    margin = dkw_margin(4000, 0.025)
    for f, t in flagged:
        assert t - margin > roc_ceiling([min(f + margin, 1.0)], curve["epsilon"],
                                        curve["delta"])[0]


def test_too_few_examples_cannot_contradict():
    curve = gaussian_dp_curve(0.5)
    roc = {"fpr": [0.0, 0.1, 1.0], "tpr": [0.5, 1.0, 1.0]}  # perfect-looking, on 10 + 10
    assert contradicting_points(roc, curve, n_members=10, n_nonmembers=10) == []
    assert contradicting_points(roc, {}, n_members=10 ** 6, n_nonmembers=10 ** 6) == []


def test_roc_plot_draws_the_dp_arms_ceiling_and_marks_contradictions(result):
    dp = result.arm("dp")
    attack = dp.attacks[0]
    curve = dp.privacy.epsilon_delta_curve
    fig = go.Figure(figures.roc_figure(attack.name, [("dp", attack)], {"dp": curve}))
    names = [t.name for t in fig.data]
    assert "dp: highest ROC its guarantee allows" in names
    assert not any("contradiction" in n for n in names)  # make_result's dp arm is fine
    # A planted leaky ROC on many examples is marked.
    leaky = _sampled_roc(4.0, 4000, seed=1)
    planted = type(attack)(**{**attack.__dict__, "roc": leaky, "n_members": 4000,
                              "n_nonmembers": 4000})
    fig = go.Figure(figures.roc_figure(attack.name, [("dp", planted)], {"dp": curve}))
    marks = [t for t in fig.data if "contradiction" in t.name]
    assert len(marks) == 1 and marks[0].marker.symbol == "x" and len(marks[0].x) > 0
