"""The library logs quietly: dp-accounting's per-order RDP notes are not warnings."""

from __future__ import annotations

import logging

from dpaudit import accounting


def test_dropped_rdp_orders_do_not_reach_warning_level(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="absl")  # the epsilon command raises it
    # q = 0.25, sigma = 2 makes dp-accounting drop its lowest fractional orders.
    epsilon = accounting.compute_epsilon(dataset_size=400, batch_size=100, noise_multiplier=2.0,
                                         epochs=40, delta=1e-5, accountant="rdp")
    assert epsilon > 0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not warnings, [r.getMessage() for r in warnings]
    assert any("failed to converge" in r.getMessage() for r in caplog.records
               if r.name.startswith("dpaudit"))
