"""AuditResult -> a self-contained HTML report (no TensorFlow)."""

__all__: list[str] = []
