"""The case repository in a SQL database: SQLite by default (one file, nothing to install), any SQLAlchemy
URL (e.g. PostgreSQL) when one machine is outgrown.

Audit appends are serialised by the database, not by this process: SQLite write transactions take the write
lock before they read (BEGIN IMMEDIATE, see `db`); on PostgreSQL every append first locks the chain-head row
(SELECT ... FOR UPDATE), so a second writer waits there and then reads the head the first one left.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from livewarden.cases import db, migrate
from livewarden.cases.schema import AlertRow as _Alert, AuditHeadRow as _AuditHead, AuditRow as _AuditEntry
from livewarden.cases.repository import AlertRecord, AuditRecord, CaseRepository, Transaction


def _record(row: Any, cls: type) -> Any:
    """The record of a row: the fields the record has (a table may carry more, e.g. an index column)."""
    return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


class _SqlTransaction(Transaction):
    def __init__(self, session: Session):
        self.session = session
        self.head: _AuditHead | None = None

    def open_alerts(self, room_id: str, rule: str, subject: str) -> list[AlertRecord]:
        rows = self.session.scalars(select(_Alert).where(
            _Alert.room_id == room_id, _Alert.rule == rule, _Alert.subject == subject, _Alert.status == "open"
        ).order_by(_Alert.id))
        return [_record(r, AlertRecord) for r in rows]

    def alert(self, alert_id: int) -> AlertRecord | None:
        row = self.session.get(_Alert, alert_id)
        return _record(row, AlertRecord) if row else None

    def add_alert(self, **fields: Any) -> int:
        return self._add(_Alert(**fields))

    def change_alert(self, alert_id: int, **fields: Any) -> None:
        row = self.session.get_one(_Alert, alert_id)
        for name, value in fields.items():
            setattr(row, name, value)

    def lock_chain_head(self) -> tuple[str, int]:
        if self.head is None:
            self.head = self.session.scalars(select(_AuditHead).where(_AuditHead.id == 1).with_for_update()).one()
        return self.head.last_hash, self.head.entries

    def add_audit(self, **fields: Any) -> int:
        return self._add(_AuditEntry(**fields))

    def set_chain_head(self, last_hash: str, entries: int) -> None:
        self.head.last_hash, self.head.entries = last_hash, entries

    def _add(self, row: Any) -> int:
        self.session.add(row)
        self.session.flush()  # assigns the id
        return row.id


class SqlCaseRepository(CaseRepository):
    """Cases in the database at `url`, evidence files under `evidence_dir`.

    Opening an embedded SQLite store upgrades its schema to the newest revision (`migrate.ensure`); any other
    database must have been upgraded with `livewarden db upgrade`, and opening an older one is refused.
    """

    def __init__(self, url: str, evidence_dir: str | Path):
        super().__init__(evidence_dir)
        self.url = url
        self.engine = db.engine(url)
        migrate.ensure(self.engine)
        self._writer = db.writer(self.engine)
        self._lock = threading.Lock()  # throughput only: this process's threads queue here, not in the database

    @classmethod
    def at(cls, data_dir: str | Path) -> "SqlCaseRepository":
        """The embedded default: SQLite file and evidence folder under `data_dir`."""
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{data_dir / 'livewarden.db'}", data_dir / "evidence")

    @contextmanager
    def _write(self) -> Iterator[Transaction]:
        with self._lock, Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield _SqlTransaction(session)

    def alerts(self, room_id: str | None = None, include_shadow: bool = True) -> list[AlertRecord]:
        q = select(_Alert).order_by(_Alert.id)
        if room_id:
            q = q.where(_Alert.room_id == room_id)
        if not include_shadow:
            q = q.where(_Alert.shadow.is_(False))
        with Session(self.engine) as session:
            return [_record(r, AlertRecord) for r in session.scalars(q)]

    def alert(self, alert_id: int) -> AlertRecord | None:
        with Session(self.engine) as session:
            return _SqlTransaction(session).alert(alert_id)

    def audit_entries(self) -> list[AuditRecord]:
        with Session(self.engine) as session:
            return [_record(r, AuditRecord) for r in session.scalars(select(_AuditEntry).order_by(_AuditEntry.id))]

    def _chain_head(self) -> tuple[str, int]:
        with Session(self.engine) as session:
            head = session.get_one(_AuditHead, 1)
            return head.last_hash, head.entries

    def close(self) -> None:
        self.engine.dispose()
