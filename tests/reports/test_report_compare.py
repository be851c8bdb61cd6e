"""`dpaudit report a/results.json b/results.json ...`: one page comparing audits."""

import dataclasses
import json
import math
import re

import plotly.graph_objects as go
import pytest
from click.testing import CliRunner

from dpaudit.cli import cli
from dpaudit.reports.compare import (privacy_utility_figure, render_comparison, run_label,
                                     tpr_per_run_figure)
from dpaudit.results import save_results


@pytest.fixture
def runs(result_factory):
    """Two candidate models: v1 as in make_result, v2 with more noise (smaller epsilon)."""
    v1 = result_factory(seed=0)
    v2 = result_factory(seed=1, dp_lower_bound=0.1)
    dp = v2.arm("dp")
    v2 = dataclasses.replace(v2, arms=(v2.arm("baseline"), dataclasses.replace(
        dp, privacy=dataclasses.replace(dp.privacy, noise_multiplier=2.0, epsilon_pld=0.9,
                                        epsilon_rdp=1.0))))
    return [("v1", v1), ("v2", v2)]


def test_privacy_utility_plane_draws_dp_arms_as_intervals_from_bound_to_theory(runs):
    fig = go.Figure(privacy_utility_figure(runs))  # validates every property
    by_name = {t.name: t for t in fig.data}
    dp = by_name["v2 · dp"]
    assert list(dp.x) == [0.9] and list(dp.y) == [0.91]
    # The bar reaches left from the theoretical epsilon to the strongest lower bound.
    assert list(dp.error_x.arrayminus) == [pytest.approx(0.9 - 0.1)]
    assert list(dp.error_x.array) == [0]
    base = by_name["v1 · baseline (no DP: lower bound only)"]
    assert list(base.x) == [1.2] and base.marker.symbol == "circle-open"


def test_tpr_at_1pct_per_run_has_one_trace_per_attack_and_one_bar_per_run_and_arm(runs):
    fig = go.Figure(tpr_per_run_figure(runs))
    assert [t.name for t in fig.data] == ["loss_threshold", "shadow"]
    assert list(fig.data[0].x) == ["v1 · baseline", "v1 · dp", "v2 · baseline", "v2 · dp"]
    tpr = runs[1][1].arm("dp").attacks[0].tpr_at_fpr["0.01"]
    assert fig.data[0].y[3] == pytest.approx(tpr)


def test_unresolvable_tpr_is_a_gap_not_a_zero(runs):
    label, result = runs[0]
    arms = tuple(dataclasses.replace(a, attacks=tuple(
        dataclasses.replace(x, tpr_at_fpr={"0.01": math.nan}) for x in a.attacks))
        for a in result.arms)
    assert tpr_per_run_figure([(label, dataclasses.replace(result, arms=arms))]) is None
    fig = go.Figure(tpr_per_run_figure([runs[1], (label, dataclasses.replace(result, arms=arms))]))
    assert list(fig.data[0].x)[2:] == ["v1 · baseline (n/a: too few non-members)",
                                       "v1 · dp (n/a: too few non-members)"]


def test_run_labels_come_from_folders_and_stay_unique(tmp_path):
    assert run_label(tmp_path / "sigma2" / "results.json") == "sigma2"
    assert run_label(tmp_path / "x" / "v2.json") == "v2"
    assert run_label(tmp_path / "a" / "results.json", ["a"]) == "a (2)"


def test_page_lists_what_each_run_audited_and_escapes_names(runs):
    label, result = runs[1]
    page = render_comparison([runs[0], ("<b>v2</b>", result)])
    assert "<b>v2</b>" not in page and "&lt;b&gt;v2&lt;/b&gt;" in page
    assert page.count("2026-11-30 10:00 UTC") == 4  # each run's date, each arm's row
    assert "abababababab…" in page
    assert "0.9 (PLD, δ 1e-5)" in page
    blocks = re.findall(r'data-figure-for="[^"]+">(.*?)</script>', page, flags=re.S)
    assert len(blocks) == 2 and all(json.loads(b)["data"] for b in blocks)


def test_cli_with_several_results_writes_one_comparison_page(runs, tmp_path):
    paths = [save_results(r, tmp_path / label / "results.json") for label, r in runs]
    target = tmp_path / "cmp.html"
    out = CliRunner().invoke(cli, ["report", *map(str, paths), "-o", str(target)])
    assert out.exit_code == 0, out.output
    page = target.read_text(encoding="utf-8")
    assert "Privacy audits compared" in page and ">v1<" in page and ">v2<" in page
    bad = CliRunner().invoke(cli, ["report", str(paths[0]), str(tmp_path / "nope.json"),
                                   "-o", str(target)])
    assert bad.exit_code == 2 and "nope.json" in bad.output
    assert target.read_text(encoding="utf-8") == page  # nothing half-written
