"""Who may see what: a caller (role + tenant) and the scope of an alert, case or event.

Every object the platform serves carries its scope (platform, seller, brand, person), filled from the
registry when it is made; a caller sees an object when its tenant is the object's platform (admin, moderator;
a regulator of that platform, or of every platform with tenant "*"), its brand (brand), its person (person)
or its seller (seller). The same rule is one SQL clause (`visible`), so a list is limited in the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, true

ROLES = ("admin", "moderator", "regulator", "brand", "person", "seller")
PLATFORM_ROLES = ("admin", "moderator")
SCOPE_FIELDS = ("platform", "seller", "brand", "person")
EVERY_PLATFORM = "*"  # a regulator's tenant that oversees every platform


@dataclass(frozen=True)
class Principal:
    """The caller: which key, which role, on behalf of which tenant."""

    key_id: str
    role: str
    tenant: str

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.tenant}:{self.key_id}"

    def sees(self, scope: dict[str, Any] | Any) -> bool:
        """Whether this caller may see an object with this scope (a dict or a row with the scope fields)."""
        get = scope.get if isinstance(scope, dict) else lambda name: getattr(scope, name, None)
        if self.role in PLATFORM_ROLES:
            return get("platform") == self.tenant
        if self.role == "regulator":
            return self.tenant == EVERY_PLATFORM or get("platform") == self.tenant
        return self.role in ("brand", "person", "seller") and get(self.role) == self.tenant

    def visible(self, table: Any) -> ColumnElement[bool]:
        """`sees` as a WHERE clause over a table with the scope columns."""
        if self.role in PLATFORM_ROLES:
            return table.platform == self.tenant
        if self.role == "regulator":
            return true() if self.tenant == EVERY_PLATFORM else table.platform == self.tenant
        if self.role in ("brand", "person", "seller"):
            return getattr(table, self.role) == self.tenant
        return false()


def room_scope(room: Any) -> dict[str, Any]:
    """The scope of what happens in a room (a registry Room, or None for a room the registry does not know)."""
    return {"platform": room.platform if room else "default", "seller": room.seller if room else None}


def alert_scope(registry: Any):
    """(room, subject) -> the scope of an alert about `subject` in `room`, from the registry."""

    def scope(room_id: str, subject: str) -> dict[str, Any]:
        room = registry.room(room_id)
        product = registry.product(subject)
        brand = subject if registry.brand(subject) else (product.brand if product else None)
        return {**room_scope(room), "brand": brand, "person": subject if registry.person(subject) else None}

    return scope
