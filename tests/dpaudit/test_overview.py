"""AuditResult's repr and notebook table: short, and estimates are not shown as bounds."""

from __future__ import annotations

import dataclasses

from tests.reports.conftest import make_result


def test_repr_and_html_name_each_arm_and_leave_estimates_out_of_the_bound():
    result = make_result()
    dp = result.arm("dp")
    estimate = dataclasses.replace(dp.attacks[0], name="lira_pooled", epsilon_lower_bound=9.0,
                                   is_estimate=True)
    result = dataclasses.replace(result, arms=(result.arm("baseline"),
                                               dataclasses.replace(dp, attacks=(*dp.attacks,
                                                                                estimate))))
    text = repr(result)
    assert text.startswith("<AuditResult digits: baseline (no DP") and "9.00" not in text
    assert "dp (epsilon" in text and "epsilon >= 0.30" in text
    page = result._repr_html_()
    assert page.startswith("<table>") and "9.00" not in page and "0.30" in page
