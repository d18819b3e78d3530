"""Cases: alerts, evidence and the audit log, behind a repository (`CaseRepository`; SQL or in memory)."""

from livewarden.cases.memory import MemoryCaseRepository
from livewarden.cases.repository import AlertRecord, AuditRecord, CaseRepository
from livewarden.cases.sql import SqlCaseRepository
from livewarden.cases.store import Alert, AuditEntry, CaseStore

__all__ = ["Alert", "AlertRecord", "AuditEntry", "AuditRecord", "CaseRepository", "CaseStore",
           "MemoryCaseRepository", "SqlCaseRepository"]
