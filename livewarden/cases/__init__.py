"""Cases: alerts, evidence and the audit log."""

from livewarden.cases.store import Alert, AuditEntry, CaseStore

__all__ = ["Alert", "AuditEntry", "CaseStore"]
