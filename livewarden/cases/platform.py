"""The platform's side of cases: alerts grouped into cases, the review queue, actions with their statement of
reasons, red-flag automation, the event log, and the timeline that answers "when did you know, what did you
do?".

It sits on the SQL repository (SQLite or PostgreSQL) and writes through its transactions, so a case action,
its audit entry, its event and its webhook outbox rows commit together or not at all. Every read takes the
caller (`Principal`) and is limited to what the caller may see in the query; an object the caller may not
see is "not found", as if it did not exist.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from livewarden.cases.events import append_event, event_json
from livewarden.cases.repository import AlertRecord, Transaction
from livewarden.cases.audit import GENESIS, entry_hash
from livewarden.cases.schema import (ActionRow, AlertRow, AuditRow, CaseRow, DeliveryRow, EventRow, NoticeRow,
                                     WebhookRow)
from livewarden.cases.scope import SCOPE_FIELDS, Principal
from livewarden.errors import LivewardenError

ACTIONS = ("dismiss", "confirm", "warn_seller", "pause_room", "end_room", "remove_listing", "suspend_seller",
           "reopen")
# DSA Art. 17(3)(a): the type of restriction each action imposes (None: no restriction)
RESTRICTION = {"dismiss": None, "confirm": None, "reopen": None, "warn_seller": "warning to the seller",
               "pause_room": "suspension of the live broadcast", "end_room": "termination of the live broadcast",
               "remove_listing": "removal of the listing", "suspend_seller": "suspension of the seller's account"}
CASE_STATUS = {"dismiss": "dismissed", "confirm": "confirmed", "reopen": "open"}  # otherwise "actioned"
REDRESS = ("internal complaint (appeal) through livewarden, out-of-court dispute settlement, judicial redress")
EXPORT_COLUMNS = ("id", "opened_at", "updated_at", "platform", "room_id", "seller", "brand", "person", "rule",
                  "subject", "severity", "status", "shadow", "confidence", "hits", "first_signal_wall_time",
                  "first_stream_time", "last_stream_time", "case_id", "message")
UPDATE_EVENT_EVERY_S = 10.0  # an alert updated at every hit announces it at most this often
# ids (alerts, cases, notices, webhooks) are SQL integers from 1; an id given from outside is bounded by what a
# JSON number holds exactly, far below the 64-bit column, so a huge one is invalid input, not a database error
MAX_ID = 2**53 - 1


def _bare(value: Any) -> Any:
    """A number sent as text (a path or a query) is the number alone: "2 " is refused, not read as 2."""
    if isinstance(value, str) and value != value.strip():
        raise ValueError("a number without spaces around it")
    return value


Bare = BeforeValidator(_bare)  # in the Annotated[...] of every number a path or a query carries
Int = Annotated[int, Bare]
Id = Annotated[int, Field(ge=1, le=MAX_ID), Bare]


class NotFound(LivewardenError):
    """No such object, or not one the caller may see."""


class Conflict(LivewardenError):
    """The object is not in a state that allows this (claimed by someone else, already decided)."""


NO_NUL = r"^[^\x00]*$"  # PostgreSQL cannot store a NUL character: no text the API takes may hold one


class Input(BaseModel):
    """What a caller sends: no unknown fields, and no NUL character in any text (PostgreSQL cannot store one);
    the spec says so too (a `pattern` on every free text), so clients know before they send."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        schema = handler.resolve_ref_schema(handler(core_schema))
        for prop in schema.get("properties", {}).values():
            for option in prop.get("anyOf", [prop]):
                if option.get("type") == "string" and not {"pattern", "format", "enum", "const"} & option.keys():
                    option["pattern"] = NO_NUL
        return schema

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("contains a NUL character")
        return value


class Statement(Input):
    """A statement of reasons (DSA Art. 17(3)): what was restricted, on which facts, how automated, on what
    ground, and the redress open to the seller."""

    facts: str = Field(min_length=1, max_length=4000, description="the facts and circumstances relied on")
    ground: str = Field(min_length=1, max_length=1000,
                        description="the legal ground (e.g. trademark infringement) or the terms of service clause")
    ground_type: Literal["illegal_content", "terms_of_service"] = "illegal_content"
    automated_detection: bool = True
    automated_decision: bool = False
    redress: str = Field(REDRESS, max_length=1000)


_SUMMARY = [c for c in AlertRow.__table__.columns if c.name != "signals"]  # an alert in a list


def _row_dict(row: Any) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in row.__table__.columns}


class Platform:
    def __init__(self, store: Any, rules: list[Any] = (), claim_ttl_s: float = 600.0):
        # called inside an action's transaction (tx, case, action, at): notices settle themselves there
        if not hasattr(store, "engine"):
            raise LivewardenError("the platform needs the SQL case store (SQLite or PostgreSQL)")
        self.store, self.engine = store, store.engine
        self.rules = {r.id: r for r in rules}
        self.claim_ttl_s = claim_ttl_s
        self.on_action: list[Any] = []
        self._announced: dict[int, float] = {}  # alert id -> when its last update was announced
        store.hooks.append(self._on_alert)

    # -- alerts, as the pipeline records them (inside the repository's transaction) ---------------------------

    def _on_alert(self, tx: Transaction, alert: AlertRecord, what: str) -> None:
        session: Session = tx.session
        if what == "opened":
            case = self._case_for(session, alert)
            session.get_one(AlertRow, alert.id).case_id = case.id
            append_event(session, "alert.opened", alert, self._alert_event(alert, case.id))
            rule = self.rules.get(alert.rule)
            action = getattr(rule, "auto_action", None)
            if action and not alert.shadow:
                statement = Statement(facts=f"{alert.message} (confidence {alert.confidence:.2f}, {alert.hits} hits)",
                                      ground=f"red flag: rule {alert.rule}", automated_decision=True)
                self._act(tx, case, action, statement, "system:red-flag", automated=True, alert_id=alert.id)
        elif what == "closed":
            self._announced.pop(alert.id, None)
            append_event(session, "alert.closed", alert, self._alert_event(alert, alert.case_id))
        elif time.time() - self._announced.get(alert.id, 0.0) >= UPDATE_EVENT_EVERY_S:
            self._announced[alert.id] = time.time()
            append_event(session, "alert.updated", alert, self._alert_event(alert, alert.case_id))

    def _case_for(self, session: Session, alert: AlertRecord) -> CaseRow:
        """The undecided case of this room and subject, or a new one."""
        case = session.scalars(select(CaseRow).where(
            CaseRow.room_id == alert.room_id, CaseRow.subject == alert.subject,
            CaseRow.status.in_(("open", "appealed"))).order_by(CaseRow.id.desc()).limit(1)).first()
        if case is None:
            now = time.time()
            case = CaseRow(room_id=alert.room_id, subject=alert.subject, status="open", opened_at=now,
                           updated_at=now, **{f: getattr(alert, f) for f in SCOPE_FIELDS})
            case.platform = case.platform or "default"
            session.add(case)
            session.flush()
        return case

    @staticmethod
    def _alert_event(alert: AlertRecord, case_id: int | None) -> dict[str, Any]:
        return {"alert_id": alert.id, "case_id": case_id, "room_id": alert.room_id, "rule": alert.rule,
                "subject": alert.subject, "severity": alert.severity, "status": alert.status,
                "shadow": alert.shadow, "message": alert.message, "confidence": alert.confidence}

    # -- reads -----------------------------------------------------------------------------------------------

    def alerts(self, who: Principal, *, after: int = 0, limit: int = 50, **filters: Any) -> list[dict[str, Any]]:
        """Alerts the caller may see, oldest first from id `after`; filters: room_id, rule, severity, status,
        brand, person, seller, since/until (opened_at), include_shadow.

        A page holds each alert without its signals (what the detectors saw, `alert()` has them): they are
        half of a row, and reading and writing them was a third of a page's cost."""
        q = select(*_SUMMARY).where(who.visible(AlertRow))
        for name in ("room_id", "rule", "severity", "status", "brand", "person", "seller"):
            if filters.get(name) is not None:
                q = q.where(getattr(AlertRow, name) == filters[name])
        since, until = filters.get("since"), filters.get("until")
        first_id = after + 1  # one lower bound on id (SQLite uses only one of two)
        if since is not None:
            q = q.where(AlertRow.opened_at >= since)
            first_id = max(first_id, self._first_id_opened(since))
        q = q.where(AlertRow.id >= first_id)
        if until is not None:
            q = q.where(AlertRow.opened_at < until)
        if not filters.get("include_shadow", True):
            q = q.where(AlertRow.shadow.is_(False))
        return self._read(q.order_by(AlertRow.id).limit(limit))

    def alert(self, who: Principal, alert_id: int) -> dict[str, Any]:
        rows = self._read(select(AlertRow.__table__).where(AlertRow.id == alert_id))
        if not rows or not who.sees(rows[0]):
            raise NotFound(f"no alert {alert_id}")
        return rows[0]

    def cases(self, who: Principal, *, status: str | None = None, after: int = 0, limit: int = 50) -> list[dict]:
        q = select(CaseRow.__table__).where(who.visible(CaseRow), CaseRow.id > after)
        if status:
            q = q.where(CaseRow.status == status)
        return self._read(q.order_by(CaseRow.id).limit(limit))

    def _first_id_opened(self, since: float) -> int:
        """The smallest id of an alert opened at `since` or later (from the opened_at index): the list walks the
        ids from there, not from the first alert of the tenant (35 ms over 100,000 alerts for the last day)."""
        # min(id + 0): plain min(id) walks the table from its first id looking for the first match
        [row] = self._read(select(func.min(AlertRow.id + 0).label("first")).where(AlertRow.opened_at >= since))
        return MAX_ID if row["first"] is None else row["first"]

    def _read(self, query: Any) -> list[dict[str, Any]]:
        """Rows as plain dicts, without the ORM (a page of 50 alerts: its objects cost more than the query)."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def case(self, who: Principal, case_id: int) -> dict[str, Any]:
        with Session(self.engine) as session:
            case = self._visible_case(session, who, case_id)
            out = _row_dict(case)
            out["alerts"] = [r.id for r in session.scalars(select(AlertRow).where(AlertRow.case_id == case_id))]
            out["actions"] = [_row_dict(a) for a in session.scalars(
                select(ActionRow).where(ActionRow.case_id == case_id).order_by(ActionRow.id))]
            return out

    @staticmethod
    def _visible_case(session: Session, who: Principal, case_id: int) -> CaseRow:
        case = session.get(CaseRow, case_id)
        if case is None or not who.sees(case):
            raise NotFound(f"no case {case_id}")
        return case

    def events(self, who: Principal, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        """The caller's events after id `after` (what a reconnecting feed missed), oldest first."""
        with Session(self.engine) as session:
            rows = session.scalars(select(EventRow).where(EventRow.id > after, who.visible(EventRow))
                                   .order_by(EventRow.id).limit(limit))
            return [event_json(r) for r in rows]

    def events_since(self, after: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Every event after id `after` with its scope (for the feed, which filters per subscriber)."""
        with Session(self.engine) as session:
            rows = session.scalars(select(EventRow).where(EventRow.id > after).order_by(EventRow.id).limit(limit))
            return [{**event_json(r), "scope": {f: getattr(r, f) for f in SCOPE_FIELDS}} for r in rows]

    def last_event_id(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.max(EventRow.id))) or 0

    # -- the review queue and actions --------------------------------------------------------------------------

    def claim_next(self, who: Principal) -> dict[str, Any] | None:
        """Hold the oldest open case nobody holds (or whose claim expired) for this moderator."""
        now = time.time()
        with self.store._write() as tx:
            session: Session = tx.session
            case = session.scalars(select(CaseRow).where(
                who.visible(CaseRow), CaseRow.status.in_(("open", "appealed")),
                (CaseRow.claimed_by.is_(None)) | (CaseRow.claim_expires < now) | (CaseRow.claimed_by == who.key_id),
            ).order_by(CaseRow.priority.desc(), CaseRow.opened_at, CaseRow.id).limit(1)).first()
            if case is None:
                return None
            case.claimed_by, case.claim_expires = who.key_id, now + self.claim_ttl_s
            case.first_seen_at = case.first_seen_at or now
            self.store._append(tx, now, who.actor, "case_claimed", None, {"case_id": case.id})
            return _row_dict(case)

    def release(self, who: Principal, case_id: int) -> None:
        with self.store._write() as tx:
            case = self._visible_case(tx.session, who, case_id)
            if case.claimed_by == who.key_id:
                case.claimed_by = case.claim_expires = None
                self.store._append(tx, time.time(), who.actor, "case_released", None, {"case_id": case_id})

    def act(self, who: Principal, case_id: int, action: str, statement: Statement,
            alert_id: int | None = None) -> dict[str, Any]:
        """Take an action on a case (a moderator must hold it, or nobody else may), recorded with its reasons."""
        if action not in ACTIONS:
            raise Conflict(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
        now = time.time()
        with self.store._write() as tx:
            case = self._visible_case(tx.session, who, case_id)
            if case.claimed_by not in (None, who.key_id) and (case.claim_expires or 0) > now:
                raise Conflict(f"case {case_id} is held by another moderator until {case.claim_expires:.0f}")
            if alert_id is not None:
                alert = tx.session.get(AlertRow, alert_id)
                if alert is None or alert.case_id != case_id:
                    raise NotFound(f"no alert {alert_id} in case {case_id}")
            if action == "reopen" and case.status == "open":  # (an appealed case is reopened: appeal granted)
                raise Conflict(f"case {case_id} is already open")
            case.first_seen_at = case.first_seen_at or now
            return self._act(tx, case, action, statement, who.actor, automated=False, alert_id=alert_id)

    def _act(self, tx: Transaction, case: CaseRow, action: str, statement: Statement, actor: str, *,
             automated: bool, alert_id: int | None) -> dict[str, Any]:
        now = time.time()
        reasons = {"restriction": RESTRICTION[action], **statement.model_dump()}
        if automated:
            reasons["automated_decision"] = True
        row = ActionRow(case_id=case.id, alert_id=alert_id, action=action, actor=actor, automated=automated,
                        statement=reasons, at=now)
        tx.session.add(row)
        tx.session.flush()
        case.status = CASE_STATUS.get(action, "actioned")
        case.updated_at = now
        case.claimed_by = case.claim_expires = None
        for settle in self.on_action:
            settle(tx, case, action, now)
        self.store._append(tx, now, actor, f"action_{action}", alert_id,
                           {"case_id": case.id, "action_id": row.id, "automated": automated})
        append_event(tx.session, "case.action", case, {"case_id": case.id, "action": action, "action_id": row.id,
                                                       "automated": automated, "alert_id": alert_id})
        return _row_dict(row)

    # -- webhook subscriptions (each caller manages its own: same role and tenant) -------------------------------

    def add_webhook(self, who: Principal, url: str, types: list[str]) -> tuple[dict[str, Any], str]:
        """A subscription -> (its record, its signing secret: shown once)."""
        from livewarden.webhooks import new_secret

        secret = new_secret()
        with self.store._write() as tx:
            row = WebhookRow(role=who.role, tenant=who.tenant, url=url, types=list(types), secrets=[secret],
                             active=True, created_at=time.time())
            tx.session.add(row)
            tx.session.flush()
            self.store._append(tx, row.created_at, who.actor, "webhook_added", None, {"webhook_id": row.id,
                                                                                   "url": url})
            return _webhook(row), secret

    def webhooks(self, who: Principal) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            return [_webhook(r) for r in session.scalars(select(WebhookRow).where(
                WebhookRow.role == who.role, WebhookRow.tenant == who.tenant).order_by(WebhookRow.id))]

    def _own_webhook(self, session: Session, who: Principal, webhook_id: int) -> WebhookRow:
        row = session.get(WebhookRow, webhook_id)
        if row is None or (row.role, row.tenant) != (who.role, who.tenant):
            raise NotFound(f"no webhook {webhook_id}")
        return row

    def remove_webhook(self, who: Principal, webhook_id: int) -> None:
        with self.store._write() as tx:
            row = self._own_webhook(tx.session, who, webhook_id)
            row.active, row.disabled_reason = False, "removed by its owner"
            self.store._append(tx, time.time(), who.actor, "webhook_removed", None, {"webhook_id": webhook_id})

    def deliveries(self, who: Principal, webhook_id: int, limit: int = 100) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            self._own_webhook(session, who, webhook_id)
            return [_row_dict(r) for r in session.scalars(select(DeliveryRow).where(
                DeliveryRow.webhook_id == webhook_id).order_by(DeliveryRow.id.desc()).limit(limit))]

    # -- early warning ---------------------------------------------------------------------------------------------

    def aggregates(self, who: Principal, since: float, until: float, bucket_s: int = 3600) -> dict[str, Any]:
        """Alerts per rule, brand and seller per time bucket; repeat offenders; rooms with an open alert now."""
        with Session(self.engine) as session:
            base = select(AlertRow).where(who.visible(AlertRow), AlertRow.shadow.is_(False),
                                          AlertRow.opened_at >= since, AlertRow.opened_at < until)
            counts: dict[str, dict[str, dict[int, int]]] = {"rule": {}, "brand": {}, "seller": {}}
            sellers: dict[str, int] = {}
            for a in session.scalars(base):
                start = int(a.opened_at // bucket_s * bucket_s)
                for by in counts:
                    key = getattr(a, by) or "-"
                    counts[by].setdefault(key, {}).setdefault(start, 0)
                    counts[by][key][start] += 1
                if a.seller:
                    sellers[a.seller] = sellers.get(a.seller, 0) + 1
            live = session.scalars(select(AlertRow.room_id).where(who.visible(AlertRow), AlertRow.status == "open",
                                                                  AlertRow.shadow.is_(False)).distinct())
            return {"since": since, "until": until, "bucket_s": bucket_s,
                    "counts": {by: {k: [{"start": t, "alerts": n} for t, n in sorted(v.items())]
                                    for k, v in c.items()} for by, c in counts.items()},
                    "repeat_offenders": sorted(({"seller": s, "alerts": n} for s, n in sellers.items() if n >= 2),
                                               key=lambda x: -x["alerts"]),
                    "rooms_alerted_now": sorted(live)}

    def export(self, who: Principal, since: float, until: float) -> list[dict[str, Any]]:
        """The alerts opened in [since, until) the caller may see, flat (EXPORT_COLUMNS), oldest first."""
        with Session(self.engine) as session:
            rows = session.scalars(select(AlertRow).where(who.visible(AlertRow), AlertRow.opened_at >= since,
                                                          AlertRow.opened_at < until).order_by(AlertRow.id))
            return [{c: getattr(r, c) for c in EXPORT_COLUMNS} for r in rows]

    def announce_health(self, scope: dict[str, Any], data: dict[str, Any]) -> None:
        """A room's source changed state (live, reconnecting, ended): an event for the feed and webhooks."""
        with self.store._write() as tx:
            append_event(tx.session, "room.health", scope, data)

    # -- "when did you know, and what did you do?" ---------------------------------------------------------------

    def timeline(self, who: Principal, case_id: int) -> dict[str, Any]:
        """The case's moments in order, each with the time since the first signal and since the step before."""
        with Session(self.engine) as session:
            case = self._visible_case(session, who, case_id)
            alerts = list(session.scalars(select(AlertRow).where(AlertRow.case_id == case_id)))
            actions = list(session.scalars(select(ActionRow).where(ActionRow.case_id == case_id)))
            notices = list(session.scalars(select(NoticeRow).where(NoticeRow.case_id == case_id)))
            steps: list[dict[str, Any]] = []
            for a in alerts:
                steps.append({"at": a.first_signal_wall_time, "what": "first_signal", "alert_id": a.id,
                              "detail": f"{a.rule}: {a.subject}"})
                steps.append({"at": a.opened_at, "what": "alert_opened", "alert_id": a.id,
                              "detail": a.message})
            for n in notices:
                steps.append({"at": n.received_at, "what": f"{n.kind}_received", "notice_id": n.id,
                              "detail": n.state})
            if case.first_seen_at:
                steps.append({"at": case.first_seen_at, "what": "first_seen_by_moderator"})
            for a in actions:
                steps.append({"at": a.at, "what": "action", "action": a.action, "action_id": a.id,
                              "actor": a.actor, "automated": a.automated, "statement": a.statement})
                if a.action == "warn_seller":
                    steps.append({"at": a.at, "what": "message_to_seller", "action_id": a.id})
            steps.sort(key=lambda s: s["at"])
            start = steps[0]["at"] if steps else case.opened_at
            prev = start
            for s in steps:
                s["when"] = datetime.fromtimestamp(s["at"], timezone.utc).isoformat(timespec="milliseconds")
                s["since_first_s"], s["since_previous_s"] = round(s["at"] - start, 3), round(s["at"] - prev, 3)
                prev = s["at"]
            ok, bad, checked = _case_entries_hold(session, case_id, [a.id for a in alerts])
            return {"case": _row_dict(case), "steps": steps,
                    "audit": {"verified": ok, "first_bad_entry": bad, "entries_checked": checked,
                              "what": "the case's audit entries and their links to the entries before them; "
                                      "GET /audit/verify checks the whole chain"}}

    def verify_audit(self) -> dict[str, Any]:
        ok, bad = self.store.verify_audit()
        return {"verified": ok, "first_bad_entry": bad, "entries": len(self.store.audit_entries())}


def _webhook(row: WebhookRow) -> dict[str, Any]:
    """A subscription as its owner sees it (never its secrets)."""
    return {"id": row.id, "url": row.url, "types": row.types, "active": row.active, "created_at": row.created_at,
            "disabled_reason": row.disabled_reason}


def _case_entries_hold(session: Session, case_id: int, alert_ids: list[int]) -> tuple[bool, int | None, int]:
    """Each audit entry of the case hashes to what it says and links to the entry before it -> (ok, first bad
    id, entries checked). The case's share of the chain, at the cost of its own entries, not of the whole log
    (an edited entry no longer matches its hash; a removed or replaced one breaks the link of the next)."""
    entries = list(session.scalars(select(AuditRow).where(
        AuditRow.alert_id.in_(alert_ids) | (AuditRow.case_id == case_id)).order_by(AuditRow.id)))
    hash_before = {after: h for after, h in session.execute(select(AuditRow.id + 1, AuditRow.hash).where(
        AuditRow.id.in_([e.id - 1 for e in entries])))}
    for e in entries:
        linked = e.prev_hash == (hash_before.get(e.id) if e.id > 1 else GENESIS)
        if not linked or e.hash != entry_hash(e.prev_hash, e.at, e.actor, e.action, e.alert_id, e.detail):
            return False, e.id, len(entries)
    return True, None, len(entries)
