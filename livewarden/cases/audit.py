"""A tamper-evident audit log: each entry carries the hash of the one before it.

Editing or deleting any past entry breaks every hash after it, which
`verify_chain` reports, so the log can show when the platform knew and acted.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

GENESIS = "0" * 64


def entry_hash(prev_hash: str, at: float, actor: str, action: str, alert_id: int | None, detail: dict[str, Any]) -> str:
    payload = json.dumps(
        {"prev": prev_hash, "at": round(at, 6), "actor": actor, "action": action, "alert_id": alert_id, "detail": detail},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def verify_chain(entries: Iterable[Any]) -> tuple[bool, int | None]:
    """Check entries (oldest first, with .prev_hash/.hash/...) -> (ok, id of the first bad entry)."""
    prev = GENESIS
    for e in entries:
        expected = entry_hash(prev, e.at, e.actor, e.action, e.alert_id, e.detail)
        if e.prev_hash != prev or e.hash != expected:
            return False, e.id
        prev = e.hash
    return True, None
