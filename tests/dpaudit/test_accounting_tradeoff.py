"""The accountant's (epsilon, delta) curve and the per-epoch series behind the report."""

import math

import pytest

from dpaudit.accounting import compute_epsilon
from dpaudit.accounting.tradeoff import (DELTA_GRID, epsilon_at_checkpoints, epsilon_delta_curve,
                                         headline_series)

RUN = {"dataset_size": 100, "batch_size": 25, "noise_multiplier": 2.0}


@pytest.mark.parametrize("sampling", ["poisson", "shuffle"])
def test_curve_agrees_with_compute_epsilon_and_falls_with_delta(sampling):
    deltas = [1e-8, 1e-5, 1e-2]
    curve = epsilon_delta_curve(steps=20, sampling=sampling, deltas=deltas, **RUN)
    assert curve["delta"] == deltas
    for delta, eps, which in zip(deltas, curve["epsilon"], curve["accountant"]):
        # An independent path through the accountants: one call per (delta, accountant).
        rdp, pld = (compute_epsilon(steps=20, delta=delta, sampling=sampling,
                                    accountant=a, **RUN) for a in ("rdp", "pld"))
        assert eps == pytest.approx(min(rdp, pld), rel=1e-9)
        assert which == (1.0 if pld < rdp else 0.0)
    assert curve["epsilon"] == sorted(curve["epsilon"], reverse=True)


def test_curve_edge_cases_return_values():
    assert epsilon_delta_curve(steps=0, deltas=[1e-5], **RUN)["epsilon"] == [0.0]
    no_noise = {**RUN, "noise_multiplier": 0.0}
    assert epsilon_delta_curve(steps=5, deltas=[1e-5], **no_noise)["epsilon"] == [math.inf]
    assert len(DELTA_GRID) == 61 and DELTA_GRID[0] == pytest.approx(1e-10)


def test_per_epoch_series_prices_checkpoints_with_one_accountant_and_ends_at_headline():
    steps = [4, 8, 12, 16]
    out = epsilon_at_checkpoints(steps_per_epoch=steps, accountant="rdp", final_epsilon=7.5,
                                 delta=1e-5, epochs=[1, 3], **RUN)
    assert out[-1] == 7.5 and math.isnan(out[1])
    assert out[0] == pytest.approx(compute_epsilon(steps=4, delta=1e-5, accountant="rdp",
                                                   **RUN))
    assert out[2] == pytest.approx(compute_epsilon(steps=12, delta=1e-5, accountant="rdp",
                                                   **RUN))


def test_headline_series_uses_the_headlines_accountant():
    per_epoch, accountant, curve = headline_series(
        epsilon_rdp=9.0, epsilon_pld=3.0, steps_per_epoch=[4, 8], epochs=[1, 2], delta=1e-5,
        **RUN)
    assert accountant == "pld" and per_epoch[-1] == 3.0
    assert per_epoch[0] == pytest.approx(compute_epsilon(steps=4, delta=1e-5, accountant="pld",
                                                         **RUN))
    assert len(curve["epsilon"]) == len(DELTA_GRID)
    assert headline_series(epsilon_rdp=None, epsilon_pld=None, steps_per_epoch=[4],
                           epochs=[1], delta=1e-5, **RUN) == ([], "", {})
