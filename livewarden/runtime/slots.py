"""Hand-off between room readers and detector workers: the newest frame per room.

Live rooms must never queue up stale frames: when workers are busy, a newer
frame replaces the pending one (counted as a drop) so latency stays bounded
and one slow room cannot delay the others. Offline scans set `block=True`
so the reader waits instead and nothing is skipped. A room's frames are
analysed one at a time and in order (a worker calls `done` when finished):
detectors with per-room state (background models, trackers) and the policy
see each room's stream as it happened.

A frame the change gate found `unchanged` is only a reminder that what was
seen still stands: it never replaces a pending frame, and a new frame that
replaces it is not a drop.
"""

from __future__ import annotations

import threading
from collections import deque

from livewarden.model import Frame


class LatestFrames:
    def __init__(self) -> None:
        self._pending: dict[str, Frame] = {}
        self._ready: deque[str] = deque()
        self._busy: set[str] = set()  # rooms whose previous frame is being analysed
        self._cond = threading.Condition()
        self.replaced: dict[str, int] = {}

    def put(self, frame: Frame, *, block: bool = False, stop: threading.Event | None = None) -> None:
        room = frame.room_id
        with self._cond:
            if block:
                while room in self._pending and not (stop and stop.is_set()):
                    self._cond.wait(0.2)
            if frame.unchanged and room in self._pending:
                return  # the pending frame is newer news than a reminder
            if room in self._pending:
                if not self._pending[room].unchanged:
                    self.replaced[room] = self.replaced.get(room, 0) + 1
            else:
                self._ready.append(room)
            self._pending[room] = frame
            self._cond.notify_all()

    def take(self, timeout: float = 0.2) -> Frame | None:
        """The oldest waiting room's newest frame, rooms served in arrival order, skipping busy rooms.

        The caller must call `done(frame.room_id)` when it has finished with the frame.
        """
        with self._cond:
            room = self._next_free()
            if room is None:
                self._cond.wait(timeout)
                room = self._next_free()
            if room is None:
                return None
            self._ready.remove(room)
            self._busy.add(room)
            frame = self._pending.pop(room)
            self._cond.notify_all()
            return frame

    def done(self, room: str) -> None:
        with self._cond:
            self._busy.discard(room)
            self._cond.notify_all()

    def forget(self, room: str, timeout: float = 10.0) -> None:
        """The room ended: drop its pending frame and counters, once its frame in analysis (if any) is done."""
        with self._cond:
            if room in self._pending:
                del self._pending[room]
                self._ready.remove(room)
            self._cond.wait_for(lambda: room not in self._busy, timeout)
            self.replaced.pop(room, None)

    def _next_free(self) -> str | None:
        return next((r for r in self._ready if r not in self._busy), None)

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._busy
