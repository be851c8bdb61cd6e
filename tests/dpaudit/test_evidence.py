"""One contradiction rule: the CLI's message, the gate and the report agree on every case."""

from __future__ import annotations

import dataclasses

import pytest

from dpaudit.evidence import Status, classify, contradictions
from dpaudit.gate import CONSISTENCY_RULE, evaluate_gate
from dpaudit.reports.evidence import compare_arm
from tests.reports.conftest import make_result


@pytest.mark.parametrize("bound, bound_delta, expected", [
    (2.0, 1e-5, Status.VIOLATION),         # above the guarantee, same delta
    (2.0, 1e-3, Status.VIOLATION),         # a larger delta is still comparable
    (2.0, None, Status.VIOLATION),         # no recorded delta: the accountant's
    (2.0, 1e-7, Status.NOT_COMPARABLE),    # smaller delta: not held against it
    (1.0, 1e-5, Status.CONSISTENT),        # equal is fine
    (1.0 + 1e-12, 1e-5, Status.CONSISTENT),  # rounding is not a bug
    (0.0, 1e-5, Status.NO_EVIDENCE),
    (float("nan"), 1e-5, Status.UNAVAILABLE),
])
def test_classify(bound, bound_delta, expected):
    assert classify(theoretical_epsilon=1.0, delta=1e-5, lower_bound=bound,
                    bound_delta=bound_delta) == expected


def test_no_guarantee_is_never_a_violation():
    assert classify(theoretical_epsilon=None, delta=None, lower_bound=9.0,
                    bound_delta=1e-5) == Status.NO_GUARANTEE


@pytest.mark.parametrize("bound_delta, violated", [(1e-5, True), (1e-7, False)])
def test_cli_gate_and_report_agree(bound_delta, violated):
    result = make_result()
    dp = result.arm("dp")
    epsilon = dp.epsilon
    attack = dataclasses.replace(dp.attacks[0], epsilon_lower_bound=epsilon + 1.0,
                                 delta=bound_delta)
    dp = dataclasses.replace(dp, attacks=(attack, *dp.attacks[1:]))
    result = dataclasses.replace(result, arms=(result.arm("baseline"), dp))

    cli = bool(contradictions(result))
    verdict = evaluate_gate(result)
    gate = any(r.rule == CONSISTENCY_RULE and not r.passed for r in verdict.rules)
    report = any(row.is_bug for row in compare_arm(dp))
    assert cli == gate == report == violated
