"""Errors that the CLI turns into exit codes (see docs/architecture.md, "Exit codes")."""

from __future__ import annotations

__all__ = ["DPAuditError", "InputError", "GateFailed", "EXIT_OK", "EXIT_GATE_FAILED",
           "EXIT_BAD_INPUT", "EXIT_INTERNAL"]

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


class DPAuditError(Exception):
    """Base class of the errors dpaudit raises on purpose."""


class InputError(DPAuditError, ValueError):
    """A user mistake: bad argument, file, field or value. Exit code 2, no traceback.

    The message must say what was wrong, where (file, field, column) and what was
    expected, e.g. ``"audit.toml: field 'dp.delta' must be in (0, 1), got 2.0"``.
    """


class GateFailed(DPAuditError):
    """The release gate found leakage or budget over policy. Exit code 1."""
