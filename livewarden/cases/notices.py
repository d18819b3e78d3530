"""Notice and takedown: a rights holder's notice (DSA Art. 16, optionally DMCA §512(c)(3)), the seller's
counter-notice, the rights holder's answer within the window, and a seller's appeal of a decision.

The clocks: a notice starts its SLA (acted on within `notice_sla_s`, trusted flaggers' first); a
counter-notice starts the rights holder's window (`counter_window_s`), after which, unanswered, the measure is
lifted (recorded as an automated action). `run_clocks` is what moves them; the server calls it every few
seconds, and it is idempotent.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from livewarden.cases.events import append_event
from livewarden.cases.platform import Conflict, Id, Input, NotFound, Platform, Statement, _row_dict
from livewarden.cases.schema import CaseRow, NoticeRow
from livewarden.cases.scope import Principal, room_scope

# no "@", white space or control character in the parts: \s differs between regex engines (the server's,
# Python's, a client's ECMAScript), so the pattern also names the characters where they disagree
_PART = r"[^@\s\x00-\x1f\x7f-\x9f\ufeff]+"
EMAIL = rf"^{_PART}@{_PART}\.{_PART}$"
RESTRICTIVE = ("warn_seller", "pause_room", "end_room", "remove_listing", "suspend_seller")
MUST_BE_TRUE = {"const": True}  # a statement the sender must make: the spec says so (the check words the error)



class Dmca(Input):
    """The elements of a DMCA §512(c)(3) notice that the Art. 16 fields do not already hold."""

    work: str = Field(min_length=1, max_length=2000, description="the copyrighted work (or mark) infringed")
    signature: str = Field(min_length=1, max_length=200, description="physical or electronic signature")
    accuracy_under_penalty_of_perjury: bool = Field(json_schema_extra=MUST_BE_TRUE)


class NoticeIn(Input):
    """DSA Art. 16(2): an explanation, where the content is, who notifies, and a good-faith statement."""

    explanation: str = Field(min_length=10, max_length=8000, description="why the content is illegal")
    room_id: str = Field(min_length=1, max_length=64)
    start_s: Optional[float] = Field(None, ge=0, allow_inf_nan=False, description="stream time the infringement starts")
    end_s: Optional[float] = Field(None, ge=0, allow_inf_nan=False)
    url: Optional[str] = Field(None, max_length=2048)
    alert_id: Optional[Id] = None
    notifier_name: str = Field(min_length=1, max_length=200)
    notifier_email: str = Field(pattern=EMAIL, max_length=320)
    good_faith: bool = Field(description="the notifier believes in good faith the information is accurate",
                             json_schema_extra=MUST_BE_TRUE)
    dmca: Optional[Dmca] = None

    @model_validator(mode="after")
    def _checks(self) -> "NoticeIn":
        if not self.good_faith:
            raise ValueError("good_faith: a notice needs the good-faith statement (DSA Art. 16(2)(d))")
        if self.start_s is not None and self.end_s is not None and self.end_s < self.start_s:
            raise ValueError("end_s: the range ends before it starts")
        if self.dmca is not None and not self.dmca.accuracy_under_penalty_of_perjury:
            raise ValueError("dmca.accuracy_under_penalty_of_perjury: a DMCA notice needs the statement")
        return self


class CounterIn(Input):
    explanation: str = Field(min_length=10, max_length=8000, description="why the content is not infringing")
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL, max_length=320)
    good_faith: bool = Field(json_schema_extra=MUST_BE_TRUE)

    @model_validator(mode="after")
    def _checks(self) -> "CounterIn":
        if not self.good_faith:
            raise ValueError("good_faith: a counter-notice needs the good-faith statement")
        return self


class AnswerIn(Input):
    """The rights holder's answer to a counter-notice: it keeps the measure (e.g. a complaint was filed)."""

    explanation: str = Field(min_length=10, max_length=8000)


class AppealIn(Input):
    explanation: str = Field(min_length=10, max_length=8000, description="why the decision should be reversed")


class Notices:
    def __init__(self, platform: Platform, registry: Any, settings: Any):
        self.platform, self.registry, self.settings = platform, registry, settings
        platform.on_action.append(self.on_action)

    # -- a rights holder's notice --------------------------------------------------------------------------------

    def file(self, who: Principal, notice: NoticeIn) -> dict[str, Any]:
        room = self.registry.room(notice.room_id) if self.registry is not None else None
        if room is None:
            raise NotFound(f"no room {notice.room_id}")
        now = time.time()
        trusted = who.tenant in self.settings.trusted_flaggers
        with self.platform.store._write() as tx:
            session: Session = tx.session
            case = self._case(session, who, room, notice.alert_id)
            row = NoticeRow(kind="notice", case_id=case.id, tenant=who.tenant, role=who.role,
                            fields={**notice.model_dump(mode="json"), "trusted_flagger": trusted}, state="received",
                            received_at=now, due_at=now + self.settings.notice_sla_s)
            session.add(row)
            session.flush()
            if trusted:
                case.priority = 1  # trusted flaggers' notices are first in the queue (DSA Art. 22)
            self.platform.store._append(tx, now, who.actor, "notice_received", notice.alert_id,
                                        {"notice_id": row.id, "case_id": case.id, "trusted_flagger": trusted})
            append_event(session, "notice.received", case, {"notice_id": row.id, "case_id": case.id,
                                                            "kind": "notice", "room_id": room.id})
            return self._json(row)

    def _case(self, session: Session, who: Principal, room: Any, alert_id: int | None) -> CaseRow:
        """The case a notice joins: its alert's, or the undecided case of the room about the notifier, or new."""
        if alert_id is not None:
            from livewarden.cases.schema import AlertRow

            alert = session.get(AlertRow, alert_id)
            if alert is None or not who.sees(alert) or alert.room_id != room.id:
                raise NotFound(f"no alert {alert_id} in room {room.id}")
            return session.get_one(CaseRow, alert.case_id)
        scope = {**room_scope(room), "brand": None, "person": None, who.role: who.tenant}
        case = session.scalars(select(CaseRow).where(
            CaseRow.room_id == room.id, CaseRow.subject == who.tenant, CaseRow.status.in_(("open", "appealed"))
        ).limit(1)).first()
        if case is None:
            now = time.time()
            case = CaseRow(room_id=room.id, subject=who.tenant, status="open", opened_at=now, updated_at=now,
                           **scope)
            session.add(case)
            session.flush()
        return case

    # -- the seller's counter-notice and the rights holder's answer ----------------------------------------------

    def counter(self, who: Principal, notice_id: int, counter: CounterIn) -> dict[str, Any]:
        now = time.time()
        with self.platform.store._write() as tx:
            notice = self._visible(tx.session, who, notice_id, kind="notice")
            if notice.state != "actioned":
                raise Conflict(f"notice {notice_id} is {notice.state}: a counter-notice answers a measure taken")
            notice.state, notice.due_at = "countered", now + self.settings.counter_window_s
            notice.fields = {**notice.fields, "counter_notice": {**counter.model_dump(mode="json"), "at": now}}
            case = tx.session.get_one(CaseRow, notice.case_id)
            self.platform.store._append(tx, now, who.actor, "counter_notice_received", None,
                                        {"notice_id": notice_id, "case_id": case.id})
            append_event(tx.session, "notice.updated", case, {"notice_id": notice_id, "case_id": case.id,
                                                              "state": "countered", "window_ends": notice.due_at})
            return self._json(notice)

    def answer(self, who: Principal, notice_id: int, answer: AnswerIn) -> dict[str, Any]:
        now = time.time()
        with self.platform.store._write() as tx:
            notice = self._visible(tx.session, who, notice_id, kind="notice")
            if (notice.role, notice.tenant) != (who.role, who.tenant):
                raise NotFound(f"no notice {notice_id}")
            if notice.state != "countered" or (notice.due_at or 0) < now:
                raise Conflict(f"notice {notice_id} has no counter-notice open to answer")
            notice.state, notice.closed_at = "upheld", now
            notice.fields = {**notice.fields, "answer": {**answer.model_dump(), "at": now}}
            case = tx.session.get_one(CaseRow, notice.case_id)
            self.platform.store._append(tx, now, who.actor, "notice_upheld", None, {"notice_id": notice_id})
            append_event(tx.session, "notice.updated", case, {"notice_id": notice_id, "case_id": case.id,
                                                              "state": "upheld"})
            return self._json(notice)

    # -- a seller's appeal -------------------------------------------------------------------------------------------

    def appeal(self, who: Principal, case_id: int, appeal: AppealIn) -> dict[str, Any]:
        now = time.time()
        with self.platform.store._write() as tx:
            case = self.platform._visible_case(tx.session, who, case_id)
            if case.status not in ("actioned", "confirmed"):
                raise Conflict(f"case {case_id} is {case.status}: only a decision against the seller is appealed")
            row = NoticeRow(kind="appeal", case_id=case_id, tenant=who.tenant, role=who.role,
                            fields=appeal.model_dump(), state="received", received_at=now,
                            due_at=now + self.settings.notice_sla_s)
            tx.session.add(row)
            tx.session.flush()
            case.status, case.updated_at = "appealed", now  # back to review
            self.platform.store._append(tx, now, who.actor, "appeal_received", None,
                                        {"notice_id": row.id, "case_id": case_id})
            append_event(tx.session, "notice.received", case, {"notice_id": row.id, "case_id": case_id,
                                                               "kind": "appeal"})
            return self._json(row)

    # -- reads ---------------------------------------------------------------------------------------------------

    def list(self, who: Principal, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = select(NoticeRow).join(CaseRow, CaseRow.id == NoticeRow.case_id).where(who.visible(CaseRow))
        if who.role in ("brand", "person"):
            q = q.where(NoticeRow.kind == "notice", NoticeRow.tenant == who.tenant)
        if state:
            q = q.where(NoticeRow.state == state)
        with Session(self.platform.engine) as session:
            return [self._json(n) for n in session.scalars(q.order_by(NoticeRow.id).limit(limit))]

    def get(self, who: Principal, notice_id: int) -> dict[str, Any]:
        with Session(self.platform.engine) as session:
            return self._json(self._visible(session, who, notice_id))

    def _visible(self, session: Session, who: Principal, notice_id: int, kind: str | None = None) -> NoticeRow:
        notice = session.get(NoticeRow, notice_id)
        case = session.get(CaseRow, notice.case_id) if notice else None
        if notice is None or case is None or not who.sees(case) or (kind and notice.kind != kind):
            raise NotFound(f"no notice {notice_id}")
        if who.role in ("brand", "person") and (notice.role, notice.tenant) != (who.role, who.tenant):
            raise NotFound(f"no notice {notice_id}")
        return notice

    @staticmethod
    def _json(row: NoticeRow, now: float | None = None) -> dict[str, Any]:
        out = _row_dict(row)
        now = time.time() if now is None else now
        running = row.state in ("received", "countered") and row.due_at is not None
        out["clock"] = {"due_at": row.due_at, "time_left_s": round(row.due_at - now, 1) if running else None,
                        "breached": running and row.due_at < now}
        return out

    # -- the clocks ------------------------------------------------------------------------------------------------

    def on_action(self, tx: Any, case: CaseRow, action: str, at: float) -> None:
        """A decision on a case settles its open notices and appeals (called inside the action's transaction)."""
        for n in tx.session.scalars(select(NoticeRow).where(NoticeRow.case_id == case.id,
                                                            NoticeRow.state == "received")):
            if n.kind == "appeal":
                n.state, n.closed_at = ("rejected" if action in RESTRICTIVE + ("confirm",) else "granted"), at
            else:
                n.state, n.closed_at = ("actioned" if action in RESTRICTIVE else "rejected"), at
            n.fields = {**n.fields, "decision": {"action": action, "at": at, "within_sla": at <= (n.due_at or at)}}
            if n.kind == "notice" and n.state == "actioned":
                n.closed_at = None  # still open to a counter-notice

    def run_clocks(self, now: float | None = None) -> dict[str, int]:
        """Breached SLAs announced once; counter windows that ran out lift their measure. -> counts."""
        now = time.time() if now is None else now
        lifted = breached = 0
        with self.platform.store._write() as tx:
            session: Session = tx.session
            for n in session.scalars(select(NoticeRow).where(NoticeRow.state == "received", NoticeRow.due_at < now)):
                if not n.fields.get("sla_breached"):
                    n.fields = {**n.fields, "sla_breached": now}
                    case = session.get_one(CaseRow, n.case_id)
                    self.platform.store._append(tx, now, "system:clock", "sla_breached", None, {"notice_id": n.id})
                    append_event(session, "notice.updated", case, {"notice_id": n.id, "case_id": case.id,
                                                                   "state": "sla_breached"})
                    breached += 1
            for n in session.scalars(select(NoticeRow).where(NoticeRow.state == "countered", NoticeRow.due_at < now)):
                n.state, n.closed_at = "lifted", now
                case = session.get_one(CaseRow, n.case_id)
                statement = Statement(facts=f"counter-notice to notice {n.id} not answered by the rights holder "
                                            f"within the window", ground="counter-notice window ended",
                                      ground_type="terms_of_service", automated_decision=True)
                self.platform._act(tx, case, "reopen", statement, "system:clock", automated=True, alert_id=None)
                lifted += 1
        return {"breached": breached, "lifted": lifted}
