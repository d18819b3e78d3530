"""The case database's tables as SQLAlchemy models (the migrations in `migrations/` create them; this module
only describes them, for the repository and the platform to query).

Alerts carry their scope (platform, seller, brand, person: from the registry when they open) so that every
read can be limited to what a caller may see in the query itself, not after loading rows.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AlertRow(Base):
    __tablename__ = "alerts"
    # a platform's open alerts (the review queue) without walking its closed ones (migration 0004)
    __table_args__ = (Index("ix_alerts_platform_status", "platform", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[str] = mapped_column(String(64), index=True)
    rule: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    shadow: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(String(512))
    first_stream_time: Mapped[float] = mapped_column(Float)
    last_stream_time: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    hits: Mapped[int] = mapped_column(Integer)
    first_signal_wall_time: Mapped[float] = mapped_column(Float)
    opened_at: Mapped[float] = mapped_column(Float, index=True)
    updated_at: Mapped[float] = mapped_column(Float)
    evidence: Mapped[list] = mapped_column(JSON)
    signals: Mapped[list] = mapped_column(JSON)
    platform: Mapped[str] = mapped_column(String(64), index=True, default="default")
    seller: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    brand: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    person: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    case_id: Mapped[int | None] = mapped_column(Integer, index=True, nullable=True)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    alert_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    detail: Mapped[dict] = mapped_column(JSON)
    # detail["case_id"] copied into an indexed column for the case's timeline (the hash covers the detail)
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # the one row is 1
    last_hash: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)


class KeyRow(Base):
    """An API key: the public id and a SHA-256 of the secret (keys are random: a slow hash buys nothing)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class CaseRow(Base):
    """What is decided on: the alerts of one room about one subject, and the notices about them."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)  # open, actioned, dismissed, appealed
    opened_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    platform: Mapped[str] = mapped_column(String(64), index=True)
    seller: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    brand: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    person: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claim_expires: Mapped[float | None] = mapped_column(Float, nullable=True)
    first_seen_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # first opened by a moderator
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher first in the queue (trusted flaggers: 1)


class ActionRow(Base):
    """A decision on a case, with its statement of reasons (DSA Art. 17)."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(Integer, index=True)
    alert_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    automated: Mapped[bool] = mapped_column(Boolean)
    statement: Mapped[dict] = mapped_column(JSON)
    at: Mapped[float] = mapped_column(Float)


class NoticeRow(Base):
    """A notice (DSA Art. 16), a counter-notice or an appeal, and where it stands."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # notice, counter_notice, appeal
    case_id: Mapped[int] = mapped_column(Integer, index=True)
    tenant: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    fields: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[float] = mapped_column(Float)
    due_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # the SLA clock, or the counter window
    closed_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class EventRow(Base):
    """What happened, in order: the live feed resumes from here and webhooks announce it."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[float] = mapped_column(Float)
    type: Mapped[str] = mapped_column(String(32), index=True)
    platform: Mapped[str] = mapped_column(String(64))
    seller: Mapped[str | None] = mapped_column(String(64), nullable=True)
    brand: Mapped[str | None] = mapped_column(String(64), nullable=True)
    person: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[dict] = mapped_column(JSON)


class WebhookRow(Base):
    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    types: Mapped[list] = mapped_column(JSON)  # event types, empty = all
    secrets: Mapped[list] = mapped_column(JSON)  # newest first; every one signs during a rotation
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[float] = mapped_column(Float)
    disabled_reason: Mapped[str | None] = mapped_column(String(256), nullable=True)


class DeliveryRow(Base):
    """The outbox: one row per (subscription, event), written with the event; the sender works it off."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(Integer, index=True)
    event_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_at: Mapped[float] = mapped_column(Float, index=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(512), nullable=True)
    updated_at: Mapped[float] = mapped_column(Float)
