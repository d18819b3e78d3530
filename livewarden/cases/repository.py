"""The case repository: what the rest of livewarden may ask of the store of alerts, evidence and the audit log.

Callers get plain records (frozen dataclasses), never ORM rows: a record can leave its session, cross a thread
or become JSON without touching the database, and the backend (SQL, memory) can change under the same API.
What an alert means (a new one closes the stale open one, which evidence it keeps, which audit entries it
writes) is decided here, once; a backend only stores, in transactions.

Next to come here, not built yet: cases grouping alerts, moderator actions on them, notices sent to sellers.
Each will write its changes and its audit entries (`append_audit` / `_append`) in one transaction, as
`record` does.
"""

from __future__ import annotations

import abc
import re
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from livewarden.cases.audit import GENESIS, entry_hash, verify_chain

if TYPE_CHECKING:  # an annotation only: a console reading alerts need not load the policy
    from livewarden.policy.engine import Update


@dataclass(frozen=True)
class AlertRecord:
    id: int
    room_id: str
    rule: str
    subject: str
    severity: str
    status: str  # "open", "closed"
    shadow: bool
    message: str
    first_stream_time: float
    last_stream_time: float
    confidence: float
    hits: int
    first_signal_wall_time: float
    opened_at: float
    updated_at: float
    evidence: list[str]  # paths of the kept files
    signals: list[dict[str, Any]]  # Signal.to_dict() of the best few
    platform: str = "default"  # the scope: who may see it (see livewarden.cases.scope)
    seller: str | None = None
    brand: str | None = None
    person: str | None = None
    case_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: float
    actor: str
    action: str
    alert_id: int | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class Transaction(abc.ABC):
    """One unit of work of a backend: its writes commit together when the `with` ends, or not at all."""

    @abc.abstractmethod
    def open_alerts(self, room_id: str, rule: str, subject: str) -> list[AlertRecord]: ...

    @abc.abstractmethod
    def alert(self, alert_id: int) -> AlertRecord | None: ...

    @abc.abstractmethod
    def add_alert(self, **fields: Any) -> int:
        """Insert an alert (every field but id); returns its id."""

    @abc.abstractmethod
    def change_alert(self, alert_id: int, **fields: Any) -> None: ...

    @abc.abstractmethod
    def lock_chain_head(self) -> tuple[str, int]:
        """(last hash, entry count), locked until the transaction ends: concurrent appenders queue here."""

    @abc.abstractmethod
    def add_audit(self, **fields: Any) -> int:
        """Insert an audit entry (every field but id, and case_id: the case it is about, an index); returns its
        id."""

    @abc.abstractmethod
    def set_chain_head(self, last_hash: str, entries: int) -> None: ...


class CaseRepository(abc.ABC):
    """Alerts + evidence + audit log. Every write returns only after its commit: an alert shown to anyone is
    never lost, and its audit entry went in with it."""

    def __init__(self, evidence_dir: str | Path):
        self.evidence_dir = Path(evidence_dir)
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        # (room, subject) -> the alert's scope (platform, seller, brand, person); the builder sets it from the
        # registry (livewarden.cases.scope.alert_scope)
        self.scope: Callable[[str, str], dict[str, Any]] = lambda room_id, subject: {}
        # called inside the transaction that opens, updates or closes an alert (the platform writes its case,
        # event and webhook outbox rows there, so they commit with the alert or not at all)
        self.hooks: list[Callable[[Transaction, AlertRecord, str], None]] = []
        # an evidence file's bytes by its SHA-256, for files not on this machine's disk (a room worker elsewhere
        # cut them): the builder sets it on a Redis bus (RedisStreamsBus.evidence)
        self.evidence_from: Callable[[str], bytes | None] | None = None

    # -- what a backend provides

    @abc.abstractmethod
    def _write(self) -> AbstractContextManager[Transaction]:
        """A write transaction: commits on a clean exit, rolls back on an exception."""

    @abc.abstractmethod
    def alerts(self, room_id: str | None = None, include_shadow: bool = True) -> list[AlertRecord]:
        """Alerts, oldest first."""

    @abc.abstractmethod
    def alert(self, alert_id: int) -> AlertRecord | None: ...

    @abc.abstractmethod
    def audit_entries(self) -> list[AuditRecord]:
        """The audit log, oldest first."""

    @abc.abstractmethod
    def _chain_head(self) -> tuple[str, int]:
        """(last hash, entry count) as committed, without locking."""

    def close(self) -> None:
        pass

    # -- what it means

    def record(self, update: Update, actor: str = "system") -> AlertRecord:
        """Persist a policy update (a new alert, or an update of the open one) and return the committed alert."""
        return self.record_many([update], actor)[0]

    def record_many(self, updates: list[Update], actor: str = "system") -> list[AlertRecord]:
        """Persist several updates in one transaction (a consumer's batch: one commit, not one each), all or
        none; the committed alerts, in order. If it fails, the findings are as they were before, so the same
        updates can be recorded again."""
        now = time.time()
        before = [(u.opened, u.finding.alert_id, u.finding.first_time, u.finding.hits,
                   u.finding.first_signal_wall_time, u.finding.confidence) for u in updates]
        try:
            with self._write() as tx:
                alerts = [self._record_in(tx, update, actor, now) for update in updates]
        except BaseException:
            for u, (opened, *kept) in zip(updates, before):
                u.opened = opened
                (u.finding.alert_id, u.finding.first_time, u.finding.hits, u.finding.first_signal_wall_time,
                 u.finding.confidence) = kept
            raise
        return alerts

    def _record_in(self, tx: Transaction, update: Update, actor: str, now: float) -> AlertRecord:
        """One update inside `tx`: open the alert (closing a stale one) or update the open one."""
        finding = update.finding
        signals = [s.to_dict() for s in finding.signals]
        self._continue_episode(tx, update)
        if update.opened or finding.alert_id is None:
            for stale in tx.open_alerts(finding.room_id, finding.rule, finding.subject):
                tx.change_alert(stale.id, status="closed", updated_at=now)
                self._append(tx, now, actor, "alert_closed", stale.id, {"reason": "no hit within close_after_s"})
                self._run_hooks(tx, stale.id, "closed")
            alert_id = tx.add_alert(
                room_id=finding.room_id, rule=finding.rule, subject=finding.subject,
                severity=finding.severity, status="open", shadow=finding.shadow, message=finding.message,
                first_stream_time=finding.first_time, last_stream_time=finding.last_time,
                confidence=finding.confidence, hits=finding.hits,
                first_signal_wall_time=finding.first_signal_wall_time, opened_at=now, updated_at=now,
                evidence=[], signals=signals, **self.scope(finding.room_id, finding.subject),
            )
            tx.change_alert(alert_id, evidence=self._keep_evidence(alert_id, update))
            what = "opened"
            self._append(tx, now, actor, "alert_shadowed" if finding.shadow else "alert_opened", alert_id,
                         {"room": finding.room_id, "rule": finding.rule, "subject": finding.subject,
                          "severity": finding.severity, "stream_time": finding.first_time})
        else:  # an update of the open alert (or the continuation of one: _continue_episode)
            alert_id = finding.alert_id
            before = tx.alert(alert_id)
            if before is None:
                raise LookupError(f"no alert {alert_id} to update")
            tx.change_alert(alert_id, last_stream_time=finding.last_time, confidence=finding.confidence,
                            hits=finding.hits, severity=finding.severity, updated_at=now, signals=signals)
            if before.severity != finding.severity:
                self._append(tx, now, actor, "severity_changed", alert_id, {"severity": finding.severity})
            what = "updated"
        self._run_hooks(tx, alert_id, what)
        finding.alert_id = alert_id  # a later update of it in the same transaction updates this alert
        return tx.alert(alert_id)

    @staticmethod
    def _continue_episode(tx: Transaction, update: Update) -> None:
        """A finding the policy opens may be one already open in the store: the room's decisions moved to another
        policy process (or it restarted), which began the room's state afresh, or the room moved to another
        worker, whose stream clock began again. The finding continues the open alert (one alert, its hits added
        up) instead of opening a second when the alert's last hit is at most the rule's `close_after_s` before
        the finding's first: on the stream clock when it went on, on the wall clock when it began again."""
        finding = update.finding
        if not (update.opened or finding.alert_id is None) or not finding.resume_within_s:
            return  # an update of an alert it already has, or a rule that never continues
        for open_ in reversed(tx.open_alerts(finding.room_id, finding.rule, finding.subject)):
            gap = finding.first_time - open_.last_stream_time
            if gap < 0:  # a new stream clock: how long since the alert's last update, by the wall clock
                gap = finding.first_signal_wall_time - open_.updated_at
            if gap <= finding.resume_within_s:
                finding.alert_id = open_.id
                finding.first_time, finding.hits = open_.first_stream_time, open_.hits + finding.hits
                finding.first_signal_wall_time = open_.first_signal_wall_time
                finding.confidence = max(finding.confidence, open_.confidence)
                update.opened = False
                return

    def _run_hooks(self, tx: Transaction, alert_id: int, what: str) -> None:
        if self.hooks:
            alert = tx.alert(alert_id)
            for hook in self.hooks:
                hook(tx, alert, what)

    def append_audit(self, actor: str, action: str, alert_id: int | None = None,
                     detail: dict[str, Any] | None = None) -> AuditRecord:
        """Append one entry on its own (a case action); returns it once committed."""
        with self._write() as tx:
            return self._append(tx, time.time(), actor, action, alert_id, detail or {})

    def verify_audit(self) -> tuple[bool, int | None]:
        """(ok, id of the first bad entry); (False, None) when entries were cut off the end of the log."""
        last_hash, count = self._chain_head()  # read before the entries: they can only have grown since
        entries = self.audit_entries()
        ok, bad = verify_chain(entries)
        if ok and (len(entries) < count or (entries[count - 1].hash if count else GENESIS) != last_hash):
            return False, None
        return ok, bad

    def _append(self, tx: Transaction, at: float, actor: str, action: str, alert_id: int | None,
                detail: dict[str, Any]) -> AuditRecord:
        """Chain one entry onto the locked head: concurrent writers (threads, processes) cannot fork the chain."""
        prev, count = tx.lock_chain_head()
        fields = dict(at=at, actor=actor, action=action, alert_id=alert_id, detail=detail, prev_hash=prev,
                      hash=entry_hash(prev, at, actor, action, alert_id, detail))
        entry_id = tx.add_audit(**fields, case_id=detail.get("case_id"))
        tx.set_chain_head(fields["hash"], count + 1)
        return AuditRecord(id=entry_id, **fields)

    def _keep_evidence(self, alert_id: int, update: Update) -> list[str]:
        """Keep the files of the alert's best signal under its room, named by the alert, before the commit."""
        from livewarden.cases.evidence import cut_evidence, keep_evidence  # here: a reader need not load OpenCV

        finding = update.finding
        best = finding.signals[0] if finding.signals else update.signal
        stem = f"{alert_id:06d}_{_safe(finding.rule)}_{_safe(finding.subject)}"
        directory = self.evidence_dir / _safe(finding.room_id)
        # the worker cut the files and the signal references them; a signal that still holds its frame
        # (a caller that feeds the policy directly) has them cut here
        refs = best.evidence_refs or (cut_evidence(best, directory, stem) if best.frame is not None
                                      or "text" in best.evidence else [])
        return keep_evidence(refs, directory, stem, self.evidence_from) if best.evidence_refs else [r.path for r in refs]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]
