"""The release gate: a policy applied to an AuditResult gives a Verdict with reasons.

No TensorFlow here. See `dpaudit.gate.verdict` for how each rule is measured.
"""

from dpaudit.gate.junit import write_junit
from dpaudit.gate.policy import Limit, Policy, PolicyLayer, RuleSet, as_policy, load_policy
from dpaudit.gate.rules import CONSISTENCY_RULE, CONTRADICTION_MESSAGE, RuleOutcome
from dpaudit.gate.verdict import Verdict, evaluate_gate, format_text

__all__ = ["CONSISTENCY_RULE", "CONTRADICTION_MESSAGE", "Limit", "Policy", "PolicyLayer",
           "RuleOutcome", "RuleSet", "Verdict", "as_policy", "evaluate_gate", "format_text",
           "load_policy", "write_junit"]
