"""Helpers for the case tests that reach behind a repository."""

from dataclasses import replace

from sqlalchemy import text

from livewarden.cases import CaseRepository, MemoryCaseRepository, SqlCaseRepository


def reopen(store: CaseRepository) -> CaseRepository:
    """A second connection to the same store (the memory one has only itself)."""
    return SqlCaseRepository.at(store.evidence_dir.parent) if isinstance(store, SqlCaseRepository) else store


def tamper(store: CaseRepository, entry_id: int, **values) -> None:
    """Change a stored audit entry behind the repository's back (None: delete it)."""
    if isinstance(store, MemoryCaseRepository):
        i = next(i for i, e in enumerate(store._audit) if e.id == entry_id)
        if values:
            store._audit[i] = replace(store._audit[i], **values)
        else:
            del store._audit[i]
        return
    with store.engine.begin() as conn:
        if values:
            sets = ", ".join(f"{k} = :{k}" for k in values)
            conn.execute(text(f"UPDATE audit_log SET {sets} WHERE id = :id"), {**values, "id": entry_id})
        else:
            conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": entry_id})
