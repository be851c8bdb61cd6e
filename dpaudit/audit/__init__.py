"""Audits: train the arms and attack them (`run_audit`), or attack a model trained
elsewhere (`audit_model`); the shared attack-running code, summaries and outputs.
"""

from dpaudit.audit.attacking import attack_outputs
from dpaudit.audit.external import audit_model
from dpaudit.audit.inputs import load_audit_data, resolve_noise
from dpaudit.audit.run import run_audit

__all__ = ["attack_outputs", "audit_model", "load_audit_data", "resolve_noise", "run_audit"]
