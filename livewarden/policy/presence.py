"""Cross-room state: who (which face, which product) is live in which rooms right now.

The policy records every signal here before it evaluates rules, so a rule
can ask "is this person also live in another room?" — the one place where
rooms are looked at together. Wall-clock time is used because every room
has its own stream clock.
"""

from __future__ import annotations

import threading

from livewarden.model import Signal


class Presence:
    """`window_s`: how long a sighting counts as "live now"; `windows`: per kind, longer (a cloned code shown in
    one room at 10:00 and in another at 10:05 is still two units with one code)."""

    def __init__(self, window_s: float = 10.0, min_confidence: float = 0.5, windows: dict[str, float] | None = None):
        self.window_s = window_s
        self.windows = {"code": 600.0} if windows is None else windows
        self.min_confidence = min_confidence
        self._seen: dict[tuple[str, str], dict[str, float]] = {}
        self._lock = threading.Lock()

    def record(self, signal: Signal) -> None:
        if signal.confidence < self.min_confidence:
            return
        with self._lock:
            self._seen.setdefault((signal.kind, signal.subject), {})[signal.room_id] = signal.wall_time

    def forget(self, room_id: str) -> None:
        with self._lock:
            for key in list(self._seen):
                self._seen[key].pop(room_id, None)
                if not self._seen[key]:
                    del self._seen[key]

    def other_rooms(self, signal: Signal, now: float | None = None) -> list[str]:
        """Rooms other than the signal's where the same subject was seen within `window_s`."""
        now = signal.wall_time if now is None else now
        window = self.windows.get(signal.kind, self.window_s)
        with self._lock:
            rooms = self._seen.get((signal.kind, signal.subject), {})
            return sorted(r for r, t in rooms.items() if r != signal.room_id and now - t <= window)

    def subjects_in(self, room_id: str, kind: str, now: float) -> set[str]:
        """The subjects of `kind` seen in this room within the window (what is on camera there now)."""
        window = self.windows.get(kind, self.window_s)
        with self._lock:
            return {subject for (k, subject), rooms in self._seen.items()
                    if k == kind and now - rooms.get(room_id, float("-inf")) <= window}
