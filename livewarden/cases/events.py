"""The event log: what happened, in order, with its scope; the live feed resumes from it and webhooks announce it.

`append_event` runs inside the transaction of the change it announces (an alert opened, an action taken), and
writes, in that same transaction, one outbox row per webhook subscription that may see it: an event that was
committed is announced (at least once), and one that was rolled back never is.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from livewarden.cases.schema import DeliveryRow, EventRow, WebhookRow
from livewarden.cases.scope import SCOPE_FIELDS, Principal

EVENT_TYPES = ("alert.opened", "alert.updated", "alert.closed", "case.action", "notice.received",
               "notice.updated", "room.health")


def append_event(session: Session, type: str, scope: dict[str, Any] | Any, data: dict[str, Any],
                 at: float | None = None) -> EventRow:
    """Add an event (and its webhook outbox rows) to the session's transaction; returns the row (id assigned)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    get = scope.get if isinstance(scope, dict) else lambda name: getattr(scope, name, None)
    at = time.time() if at is None else at
    row = EventRow(at=at, type=type, data=data, **{f: get(f) for f in SCOPE_FIELDS})
    row.platform = row.platform or "default"
    session.add(row)
    session.flush()
    for hook in session.scalars(select(WebhookRow).where(WebhookRow.active.is_(True))):
        if (not hook.types or type in hook.types) and Principal("", hook.role, hook.tenant).sees(row):
            session.add(DeliveryRow(webhook_id=hook.id, event_id=row.id, state="pending", attempts=0, next_at=at,
                                    updated_at=at))
    return row


def event_json(row: EventRow) -> dict[str, Any]:
    """An event as the feed and webhooks send it."""
    return {"id": row.id, "type": row.type, "at": row.at, "data": row.data}
