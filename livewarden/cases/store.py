"""The import path from before the repository (`from livewarden.cases.store import CaseStore`), kept for
callers not yet moved to `livewarden.cases`; nothing here but the old names."""

from livewarden.cases import Alert, AuditEntry, CaseStore

__all__ = ["Alert", "AuditEntry", "CaseStore"]
