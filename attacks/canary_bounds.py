"""Epsilon lower bounds from canary audits: one training run, or many.

A canary audit plants m canaries, includes each one in training independently with
probability 1/2, scores every canary after training (higher = "more likely included")
and turns how well the scores separate included from excluded canaries into an
epsilon that the training algorithm provably cannot be below (with a stated
confidence). Three estimators, all numpy/scipy only:

* `one_run_audit` -- Steinke, Nasr, Jagielski, "Privacy Auditing with One (1) Training
  Run", NeurIPS 2023 (https://arxiv.org/abs/2305.08846). The auditor guesses "in" for
  the k+ highest scores, "out" for the k- lowest and abstains on the rest. Under
  epsilon-DP the number of correct guesses among the r = k+ + k- guesses is dominated by
  Binomial(r, e^eps / (1 + e^eps)); under (epsilon, delta)-DP their Theorem 5.2 adds
  2 * m * delta * max_i P[v - i <= Binomial < v] / i to the tail probability of v
  correct guesses (`one_run_p_value`). The lower bound is the largest epsilon whose
  p-value stays below 1 - confidence, found by bisection. It needs ONE training run
  because the m canaries' inclusion bits are the independent coins.
* `multi_run_audit` -- Jagielski, Ullman, Oprea, "Auditing Differentially Private
  Machine Learning: How Private is Private SGD?", NeurIPS 2020
  (https://arxiv.org/abs/2006.07709): a threshold on the score is a membership test;
  one-sided Clopper-Pearson upper bounds on its false-positive and false-negative rates
  bound epsilon (`attacks.metrics.epsilon_from_error_counts`). The threshold is chosen
  on held-out runs so that the counts it is scored on stay independent of it.
* `gdp_audit` -- Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis,
  "Tight Auditing of Differentially Private Machine Learning", USENIX Security 2023
  (https://arxiv.org/abs/2302.07956): model the scores of included and excluded
  canaries as two Gaussians with a common variance, so the mechanism looks mu-GDP with
  mu = (mean_in - mean_out) / pooled std; an exact noncentral-t confidence bound on mu
  is converted to epsilon at delta (`attacks.metrics.gdp_mu_to_epsilon`). This is an
  *estimate*: it is a valid bound only as far as the Gaussian model of the scores holds
  (exactly so for white-box Dirac canaries in full-batch DP-SGD).

The estimators live in `canary_one_run` (with a runnable example), `canary_multi_run` and
`canary_gdp`; this module gathers them under one name, and `dpaudit.attacks` exports them
from here.
"""

from __future__ import annotations

from .canary_gdp import GDPAudit, gdp_audit
from .canary_multi_run import MultiRunAudit, multi_run_audit, multi_run_ceiling
from .canary_one_run import (OneRunAudit, default_guess_counts, one_run_audit, one_run_ceiling,
                             one_run_epsilon_lower_bound, one_run_p_value)

__all__ = [
    "GDPAudit",
    "MultiRunAudit",
    "OneRunAudit",
    "default_guess_counts",
    "gdp_audit",
    "multi_run_audit",
    "multi_run_ceiling",
    "one_run_audit",
    "one_run_ceiling",
    "one_run_epsilon_lower_bound",
    "one_run_p_value",
]
