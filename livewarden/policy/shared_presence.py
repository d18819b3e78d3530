"""Who is live where, shared by every policy process through Redis: the cross-room part of `Presence`.

With several policy processes each room is decided by one of them (runtime/redis_bus.py), so "is this person,
or this issued code, also live in another room?" cannot be answered from one process's memory. Sightings of
the kinds asked about across rooms (`SHARED`: faces, codes) are written to a Redis hash per subject, room ->
wall time, that expires a window after its last write; everything else (what is on camera in the room itself)
stays in the process, as the room's own signals all come to it.

Costs two round trips per face or code sighting (write, then the look that follows it), none for other kinds.
A room that ends is forgotten here at once and in Redis when its sightings expire (within the kind's window).
"""

from __future__ import annotations

from typing import Any

from livewarden.model import Signal
from livewarden.policy.presence import Presence

SHARED = ("face", "code")


class SharedPresence(Presence):
    def __init__(self, redis: Any, prefix: str = "lw:", **kw: Any) -> None:
        super().__init__(**kw)
        self.redis, self.prefix = redis, prefix

    def _key(self, signal: Signal) -> str:
        return f"{self.prefix}presence:{signal.kind}:{signal.subject}"

    def _window(self, kind: str) -> float:
        return self.windows.get(kind, self.window_s)

    def record(self, signal: Signal) -> None:
        super().record(signal)
        if signal.kind in SHARED and signal.confidence >= self.min_confidence:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hset(self._key(signal), signal.room_id, repr(signal.wall_time))
            pipe.pexpire(self._key(signal), int(self._window(signal.kind) * 1000) + 1000)
            pipe.execute()

    def other_rooms(self, signal: Signal, now: float | None = None) -> list[str]:
        if signal.kind not in SHARED:
            return super().other_rooms(signal, now)
        now = signal.wall_time if now is None else now
        window = self._window(signal.kind)
        seen = self.redis.hgetall(self._key(signal))
        return sorted(room.decode() for room, t in seen.items()
                      if room.decode() != signal.room_id and now - float(t) <= window)
