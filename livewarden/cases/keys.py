"""API keys: made once, shown once, stored as a hash; a request's bearer token -> the caller (`Principal`).

A token is `lw_<id>_<secret>`: the id finds the row (and may be shown in logs and audit entries), the secret
is 32 random bytes kept only as its SHA-256 (a random secret needs no slow hash: there is nothing to guess).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from livewarden.cases import db
from livewarden.cases.schema import KeyRow
from livewarden.cases.scope import ROLES, Principal
from livewarden.errors import InputError

PREFIX = "lw_"


@dataclass(frozen=True)
class KeyInfo:
    id: str
    role: str
    tenant: str
    name: str
    created_at: float
    revoked_at: float | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: KeyRow) -> KeyInfo:
    return KeyInfo(row.id, row.role, row.tenant, row.name, row.created_at, row.revoked_at)


def create_key(engine: Engine, role: str, tenant: str, name: str = "") -> tuple[KeyInfo, str]:
    """A new key -> (its record, the token: shown to the user once, never stored)."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if not tenant or len(tenant) > 64:
        raise InputError("a key needs a tenant (1-64 characters): the platform, brand, person or seller it acts for")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    row = KeyRow(id=key_id, secret_sha256=_digest(secret), role=role, tenant=tenant, name=name[:128],
                 created_at=time.time(), revoked_at=None)
    with Session(db.writer(engine)) as session, session.begin():
        session.add(row)
        info = _info(row)
    return info, f"{PREFIX}{key_id}_{secret}"


def authenticate(engine: Engine, token: str) -> Principal | None:
    """The caller a token stands for, or None (unknown, malformed, wrong secret or revoked)."""
    if not token.startswith(PREFIX) or token.count("_") < 2:
        return None
    key_id, _, secret = token[len(PREFIX):].partition("_")
    keys = KeyRow.__table__
    with engine.connect() as conn:  # every request: the plain query, not the ORM
        row = conn.execute(select(keys.c.role, keys.c.tenant, keys.c.secret_sha256, keys.c.revoked_at)
                           .where(keys.c.id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return None
    return Principal(key_id, row.role, row.tenant)


def list_keys(engine: Engine) -> list[KeyInfo]:
    with Session(engine) as session:
        return [_info(r) for r in session.scalars(select(KeyRow).order_by(KeyRow.created_at))]


def revoke_key(engine: Engine, key_id: str) -> bool:
    with Session(db.writer(engine)) as session, session.begin():
        row = session.get(KeyRow, key_id)
        if row is None:
            return False
        row.revoked_at = row.revoked_at or time.time()
        return True
