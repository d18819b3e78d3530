"""The case store: alerts, their evidence and the audit log, in one SQL database.

SQLite by default (one file, nothing to install), any SQLAlchemy URL (e.g.
PostgreSQL) when one machine is outgrown. `record()` writes evidence files,
the alert row and its audit entry in one transaction and returns only after
the commit: an alert that was shown to anyone is never lost.
"""

from __future__ import annotations

import random
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, create_engine, event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from livewarden.cases.audit import GENESIS, entry_hash, verify_chain
from livewarden.cases.evidence import cut_evidence, keep_evidence
from livewarden.model import Finding
from livewarden.policy.engine import Update


class Base(DeclarativeBase):
    pass


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[str] = mapped_column(String(64), index=True)
    rule: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    shadow: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str] = mapped_column(String(512), default="")
    first_stream_time: Mapped[float] = mapped_column(Float)
    last_stream_time: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    hits: Mapped[int] = mapped_column(Integer)
    first_signal_wall_time: Mapped[float] = mapped_column(Float)
    opened_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    signals: Mapped[list] = mapped_column(JSON, default=list)

    def to_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns}


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    alert_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]


class CaseStore:
    """Alerts + evidence + audit log. Thread-safe: writes are serialised by one lock."""

    def __init__(self, url: str, evidence_dir: str | Path):
        self.url = url
        self.evidence_dir = Path(evidence_dir)
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._create_tables()
        self._lock = threading.Lock()

    def _create_tables(self, attempts: int = 10) -> None:
        """Create what is missing. Another process (a second `watch`, a console) may be creating the same
        tables between our check and our CREATE: "already exists" (or "locked") then means look again, not fail."""
        for attempt in range(attempts):
            try:
                Base.metadata.create_all(self.engine)
                return
            except OperationalError as exc:
                if not ("already exists" in str(exc) or "locked" in str(exc)) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    @classmethod
    def at(cls, data_dir: str | Path) -> "CaseStore":
        """The embedded default: SQLite file and evidence folder under `data_dir`."""
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{data_dir / 'livewarden.db'}", data_dir / "evidence")

    def record(self, update: Update, actor: str = "system") -> Alert:
        """Persist a policy update (new alert or update of the open one) and return the committed row."""
        finding = update.finding
        now = time.time()
        with self._lock, Session(self.engine, expire_on_commit=False) as session:
            if update.opened or finding.alert_id is None:
                self._close_open(session, finding, now, actor)
                alert = Alert(
                    room_id=finding.room_id, rule=finding.rule, subject=finding.subject,
                    severity=finding.severity, status="open", shadow=finding.shadow,
                    message=finding.message, first_stream_time=finding.first_time,
                    last_stream_time=finding.last_time, confidence=finding.confidence,
                    hits=finding.hits, first_signal_wall_time=finding.first_signal_wall_time,
                    opened_at=now, updated_at=now, evidence=[],
                    signals=[s.to_dict() for s in finding.signals],
                )
                session.add(alert)
                session.flush()  # assigns the id used to name the evidence files
                best = finding.signals[0] if finding.signals else update.signal
                stem = f"{alert.id:06d}_{_safe(finding.rule)}_{_safe(finding.subject)}"
                directory = self.evidence_dir / _safe(finding.room_id)
                # the worker cut the files and the signal references them; a signal that still holds its frame
                # (a caller that feeds the policy directly) has them cut here
                refs = best.evidence_refs or (cut_evidence(best, directory, stem) if best.frame is not None
                                              or "text" in best.evidence else [])
                alert.evidence = keep_evidence(refs, directory, stem) if best.evidence_refs else [r.path for r in refs]
                self._audit(session, now, actor, "alert_shadowed" if finding.shadow else "alert_opened", alert.id,
                            {"room": alert.room_id, "rule": alert.rule, "subject": alert.subject,
                             "severity": alert.severity, "stream_time": alert.first_stream_time})
            else:
                alert = session.get(Alert, finding.alert_id)
                escalated = alert.severity != finding.severity
                alert.last_stream_time = finding.last_time
                alert.confidence = finding.confidence
                alert.hits = finding.hits
                alert.severity = finding.severity
                alert.updated_at = now
                alert.signals = [s.to_dict() for s in finding.signals]
                if escalated:
                    self._audit(session, now, actor, "severity_changed", alert.id, {"severity": alert.severity})
            session.commit()
        finding.alert_id = alert.id
        return alert

    def _close_open(self, session: Session, finding: Finding, now: float, actor: str) -> None:
        stale = session.scalars(
            select(Alert).where(Alert.room_id == finding.room_id, Alert.rule == finding.rule,
                                Alert.subject == finding.subject, Alert.status == "open")
        ).all()
        for alert in stale:
            alert.status = "closed"
            alert.updated_at = now
            self._audit(session, now, actor, "alert_closed", alert.id, {"reason": "no hit within close_after_s"})

    def _audit(self, session: Session, at: float, actor: str, action: str, alert_id: int | None, detail: dict) -> None:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).first()
        prev = last.hash if last else GENESIS
        session.add(AuditEntry(at=at, actor=actor, action=action, alert_id=alert_id, detail=detail,
                               prev_hash=prev, hash=entry_hash(prev, at, actor, action, alert_id, detail)))

    def alerts(self, room_id: str | None = None, include_shadow: bool = True) -> list[Alert]:
        with Session(self.engine, expire_on_commit=False) as session:
            q = select(Alert).order_by(Alert.id)
            if room_id:
                q = q.where(Alert.room_id == room_id)
            if not include_shadow:
                q = q.where(Alert.shadow.is_(False))
            return list(session.scalars(q).all())

    def audit_entries(self) -> list[AuditEntry]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all())

    def verify_audit(self) -> tuple[bool, int | None]:
        return verify_chain(self.audit_entries())

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL lets readers (console, API) read while a room thread writes; NORMAL sync is durable in WAL.

    Switching a new file to WAL needs it to ourselves; when another process is mid-way through creating the
    tables, SQLite answers "database is locked" at once (it does not wait, to avoid a deadlock), so look again.
    """
    cur = dbapi_conn.cursor()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    cur.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.01, 0.05))
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()
