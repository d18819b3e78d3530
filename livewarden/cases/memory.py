"""The case repository in memory, for unit tests: the same behaviour as the SQL one, no database.

A write transaction works on copies of the tables and swaps them in at its end, so a write that fails
leaves nothing behind, as a rollback would; values go through JSON, as they would through a JSON column.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from livewarden.cases.audit import GENESIS
from livewarden.cases.repository import AlertRecord, AuditRecord, CaseRepository, Transaction


def _stored(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: json.loads(json.dumps(v)) if isinstance(v, (list, dict)) else v for k, v in fields.items()}


class _MemoryTransaction(Transaction):
    def __init__(self, alerts: dict[int, AlertRecord], audit: list[AuditRecord], head: tuple[str, int]):
        self.alerts, self.audit, self.head = dict(alerts), list(audit), head

    def open_alerts(self, room_id: str, rule: str, subject: str) -> list[AlertRecord]:
        return [a for a in self.alerts.values()
                if (a.room_id, a.rule, a.subject, a.status) == (room_id, rule, subject, "open")]

    def alert(self, alert_id: int) -> AlertRecord | None:
        return self.alerts.get(alert_id)

    def add_alert(self, **fields: Any) -> int:
        alert_id = max(self.alerts, default=0) + 1
        self.alerts[alert_id] = AlertRecord(id=alert_id, **_stored(fields))
        return alert_id

    def change_alert(self, alert_id: int, **fields: Any) -> None:
        self.alerts[alert_id] = replace(self.alerts[alert_id], **_stored(fields))

    def lock_chain_head(self) -> tuple[str, int]:
        return self.head  # the repository's lock is held for the whole transaction

    def add_audit(self, **fields: Any) -> int:
        fields.pop("case_id")  # an index of the SQL store
        entry_id = self.audit[-1].id + 1 if self.audit else 1
        self.audit.append(AuditRecord(id=entry_id, **_stored(fields)))
        return entry_id

    def set_chain_head(self, last_hash: str, entries: int) -> None:
        self.head = (last_hash, entries)


class MemoryCaseRepository(CaseRepository):
    def __init__(self, evidence_dir: str | Path):
        super().__init__(evidence_dir)
        self._alerts: dict[int, AlertRecord] = {}
        self._audit: list[AuditRecord] = []
        self._head = (GENESIS, 0)
        self._lock = threading.Lock()

    @contextmanager
    def _write(self) -> Iterator[Transaction]:
        with self._lock:
            tx = _MemoryTransaction(self._alerts, self._audit, self._head)
            yield tx
            self._alerts, self._audit, self._head = tx.alerts, tx.audit, tx.head

    def alerts(self, room_id: str | None = None, include_shadow: bool = True) -> list[AlertRecord]:
        return [a for a in self._alerts.values()
                if (not room_id or a.room_id == room_id) and (include_shadow or not a.shadow)]

    def alert(self, alert_id: int) -> AlertRecord | None:
        return self._alerts.get(alert_id)

    def audit_entries(self) -> list[AuditRecord]:
        return list(self._audit)

    def _chain_head(self) -> tuple[str, int]:
        return self._head
