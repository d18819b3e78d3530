"""Cases: alerts, evidence and the audit log, behind a repository (`CaseRepository`; SQL or in memory).

`CaseStore`, `Alert` and `AuditEntry` are the names from before the repository: the SQL repository and its
records.
"""

from livewarden.cases.memory import MemoryCaseRepository
from livewarden.cases.repository import AlertRecord, AuditRecord, CaseRepository
from livewarden.cases.sql import SqlCaseRepository

CaseStore = SqlCaseRepository
Alert = AlertRecord
AuditEntry = AuditRecord

__all__ = ["Alert", "AlertRecord", "AuditEntry", "AuditRecord", "CaseRepository", "CaseStore",
           "MemoryCaseRepository", "SqlCaseRepository"]
