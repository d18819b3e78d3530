"""Cross-room: is the same stream live in two rooms at once? The policy's, like who is live where.

Every room's `stream_frame` signals (a frame fingerprint, ~2 a second) are kept for `window_s` of wall
clock. A new frame of room X is compared with the recent frames of every other room Y (whole against
whole and centre, mirrored against whole): the best frame of Y must be within PDQ's match distance and
stand out from Y's other recent frames (as a loop's period must: a still picture matches every moment of
another still picture). When most of X's recent frames found Y at one lag, X shows Y's stream: the
derived `stream_copy` signal names Y, the earlier room (X lags it, or went on air after it when both show
it at the same moment, as two rooms restreaming one source do).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from livewarden.detectors.frame_hash import MATCH_DISTANCE, distances, from_hex
from livewarden.model import Signal

LAG_TOLERANCE_S = 1.5


@dataclass
class _Room:
    first_seen: float
    frames: deque = field(default_factory=deque)  # (wall time, whole, centre)
    found: dict[str, deque] = field(default_factory=dict)  # other room -> (wall time, lag)
    checked: deque = field(default_factory=deque)  # wall times of frames compared


class LiveStreams:
    def __init__(self, window_s: float = 20.0, min_frames: int = 4, min_margin: float = 24.0,
                 min_margin_still: float = 8.0):
        self.window_s, self.min_frames = window_s, min_frames
        self.min_margin, self.min_margin_still = min_margin, min_margin_still
        self._rooms: dict[str, _Room] = {}
        self._copying: dict[str, str] = {}  # room -> the room whose stream it shows
        self._lock = threading.Lock()

    def suspect(self, room_id: str) -> bool:
        """The room's last frame showed another room's stream (its next frame's evidence is worth cutting)."""
        return room_id in self._copying

    def forget(self, room_id: str) -> None:
        with self._lock:
            self._rooms.pop(room_id, None)
            self._copying.pop(room_id, None)
            for room in self._rooms.values():
                room.found.pop(room_id, None)

    def observe(self, signal: Signal) -> Signal | None:
        """Record the frame; the `stream_copy` signal when this room shows another room's stream."""
        t = signal.wall_time
        ev = signal.evidence
        whole, mirror, middle = from_hex(ev["whole"]), from_hex(ev["mirror"]), from_hex(ev["centre"])
        with self._lock:
            me = self._rooms.setdefault(signal.room_id, _Room(first_seen=t))
            for room in self._rooms.values():
                while room.frames and t - room.frames[0][0] > self.window_s:
                    room.frames.popleft()
            me.checked.append(t)
            while me.checked and t - me.checked[0] > self.window_s:
                me.checked.popleft()
            for other_id, other in self._rooms.items():
                if other_id == signal.room_id or len(other.frames) < 4:
                    continue
                lag = self._best_lag(t, whole, mirror, middle, other)
                found = me.found.setdefault(other_id, deque())
                if lag is not None:
                    found.append((t, lag))
                while found and t - found[0][0] > self.window_s:
                    found.popleft()
            me.frames.append((t, whole, middle))
            copy = self._judge(signal.room_id, me)
            if copy is None:
                self._copying.pop(signal.room_id, None)
                return None
            self._copying[signal.room_id] = copy[0]
        original, lag, agree = copy
        ratio = agree / max(1, len(me.checked))
        return replace(signal, kind="stream_copy", subject=original, confidence=round(min(0.95, 0.5 + 0.45 * ratio), 4),
                       evidence={"original_room": original, "lag_s": round(lag, 2), "frames": agree,
                                 "match_ratio": round(ratio, 3)})

    def _best_lag(self, t, whole, mirror, middle, other: _Room) -> float | None:
        times = np.array([f[0] for f in other.frames])
        theirs = np.stack([f[1] for f in other.frames])
        centres = np.stack([f[2] for f in other.frames])
        d = np.minimum.reduce([distances(whole, theirs), distances(middle, centres), distances(mirror, theirs),
                               distances(whole, centres), distances(middle, theirs)])
        k = int(np.argmin(d))
        rest = np.delete(d, k)
        median = float(np.median(rest))
        if d[k] > MATCH_DISTANCE or median - d[k] < min(self.min_margin, max(self.min_margin_still, 0.7 * median)):
            return None
        return float(t - times[k])

    def _judge(self, room_id: str, me: _Room) -> tuple[str, float, int] | None:
        best = None
        for other_id, found in me.found.items():
            if len(found) < self.min_frames:
                continue
            lags = np.array([lag for _, lag in found])
            median = float(np.median(lags))
            agree = int((np.abs(lags - median) <= LAG_TOLERANCE_S).sum())
            if agree < self.min_frames:
                continue
            if self._copying.get(other_id) == room_id:  # found copying this room first: the original matches its
                continue  # copy's past frames only where the picture holds still
            other = self._rooms.get(other_id)
            later = median > 0.5 or (abs(median) <= 0.5 and other is not None and other.first_seen < me.first_seen)
            if later and (best is None or agree > best[2]):
                best = (other_id, median, agree)
        return best
