"""The old import path and names: `CaseStore` is the SQL repository, `Alert`/`AuditEntry` its records.

Kept so callers written before the repository (`from livewarden.cases.store import CaseStore`) keep working;
new code imports from `livewarden.cases`.
"""

from livewarden.cases.repository import AlertRecord as Alert
from livewarden.cases.repository import AuditRecord as AuditEntry
from livewarden.cases.sql import SqlCaseRepository as CaseStore

__all__ = ["Alert", "AuditEntry", "CaseStore"]
