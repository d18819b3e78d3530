"""Is this room repeating itself? A room's own recent frame hashes searched for an earlier run at one offset.

A loop is a run of recent frames that matches an earlier run *at a constant offset* (the period): frame by
frame, the picture at t is the picture at t - period. The hashes are kept on a grid of `slot_s` slots of
the stream clock (the last hash of each slot), and each new frame's distances to the whole ring are kept
for the last `window_s`; the sequence distance at offset d is then the mean, over the window, of each
frame's distance to the slot d earlier (forgiving one slot of sampling phase). Two tests keep what is not a
loop from being called one:

* the window must match at d: at least `min_ratio` of its frames within PDQ's match distance, and
  `max_distance` bits on average (a loop repeats frames, re-encoded at most: 0-16 bits on video/dev; a host
  who holds a product up at a steady rhythm repeats a pose, 18-25 bits in the generated demo rooms), and
* d must stand out: its sequence distance must be `min_margin` bits below the median at other offsets, or,
  for a picture that barely moves (a host standing still: other offsets at 8-14 bits on video/dev), 70% of
  that median and at least `min_margin_still` bits (an exact repeat is 0 bits away). A static studio matches
  every earlier moment equally well, and a clip played backwards (ping-pong) matches along the other
  diagonal, so neither has an offset that stands out.

The period is reported with the two matched time ranges and the match ratio; the ring keeps a small JPEG
every `thumb_every_s` so the evidence can show the earlier frame beside the current one.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from livewarden.detectors.frame_hash import HASH_BYTES, MATCH_DISTANCE, FrameHash, distances

FAR = 256  # the distance of an empty slot
EMPTY = -(2**62)  # a ring position that holds no slot yet


@dataclass(frozen=True)
class Loop:
    """A loop found: the window [start, end] repeats [start - period, end - period]."""

    period: float
    start: float
    end: float
    ratio: float  # frames of the window matched at the period
    distance: float  # their mean distance (bits of 256)
    margin: float  # how far below the other offsets' median
    held_s: float  # for how long the same period has been found


class SelfMatcher:
    """One room's ring of recent hashes and the loop search over it."""

    def __init__(self, max_period_s: float = 3600.0, min_period_s: float = 5.0, slot_s: float = 0.5,
                 window_s: float = 8.0, min_ratio: float = 0.8, min_margin: float = 24.0, min_margin_still: float = 8.0,
                 max_distance: float = 16.0, min_frames: int = 6,
                 thumb_every_s: float = 4.0):
        self.slot_s, self.window_s = slot_s, window_s
        self.min_slots = max(1, int(round(min_period_s / slot_s)))
        self.size = int(math.ceil((max_period_s + window_s) / slot_s)) + 2
        self.min_ratio, self.min_frames = min_ratio, min_frames
        self.min_margin, self.min_margin_still = min_margin, min_margin_still
        self.max_distance = max_distance
        self.thumb_every_s = thumb_every_s
        self.hashes = np.zeros((self.size, HASH_BYTES), np.uint8)
        self.filled = np.full(self.size, EMPTY, np.int64)  # which absolute slot each ring position holds
        self.rows: deque[tuple[int, float, np.ndarray]] = deque()  # (slot, time, distances to the ring)
        self.thumbs: dict[int, bytes] = {}  # absolute slot -> small JPEG
        self._last_time = -math.inf
        self._period: float | None = None
        self._period_since = 0.0

    @property
    def memory_bytes(self) -> int:
        rows = sum(r[2].nbytes for r in self.rows)
        return self.hashes.nbytes + self.filled.nbytes + rows + sum(len(t) for t in self.thumbs.values())

    def reset(self) -> None:
        self.filled[:] = EMPTY
        self.rows.clear()
        self.thumbs.clear()
        self._period = None

    def add(self, t: float, frame_hash: FrameHash, image: np.ndarray | None = None) -> Loop | None:
        """Record one frame (its hash, and the picture for evidence); the loop it completes, if any."""
        if t < self._last_time:  # the stream clock restarted (a new source): what came before is another stream
            self.reset()
        self._last_time = t
        if not frame_hash.usable:
            return None
        slot = int(t // self.slot_s)
        pos = slot % self.size
        self.hashes[pos] = frame_hash.bits
        self.filled[pos] = slot
        if image is not None and (slot - max(self.thumbs, default=-10**9)) * self.slot_s >= self.thumb_every_s:
            self.thumbs[slot] = _thumb(image)
        oldest = slot - self.size + 1
        for s in [s for s in self.thumbs if s < oldest]:
            del self.thumbs[s]
        row = distances(frame_hash.bits, self.hashes)
        row[self.filled < oldest] = FAR
        self.rows.append((slot, t, row))
        while self.rows and (t - self.rows[0][1] > self.window_s or self.rows[0][0] < oldest):
            self.rows.popleft()
        return self._search(t)

    def _search(self, t: float) -> Loop | None:
        if len(self.rows) < self.min_frames:
            return None
        slots = np.array([r[0] for r in self.rows])
        newest = int(slots.max())
        span = newest - int(slots.min())
        offsets = np.arange(self.min_slots, self.size - span - 2)  # earlier slots still in the ring
        if offsets.size < 8:
            return None
        matrix = np.stack([r[2] for r in self.rows])  # (frames, ring)
        # each frame's distance at offset d: the best of the slots d-1, d, d+1 earlier (sampling phase)
        best = np.minimum(np.minimum(np.roll(matrix, 1, axis=1), matrix), np.roll(matrix, -1, axis=1))
        # empty or overwritten ring slots are FAR; the ring position of slot s - d is (s - d) mod size
        positions = (slots[:, None] - offsets[None, :]) % self.size
        at = np.take_along_axis(best, positions, axis=1).astype(np.float32)  # (frames, offsets)
        known = at < FAR
        if not known.any():
            return None
        mean = np.where(known.sum(0) >= self.min_frames, np.where(known, at, 0).sum(0) / np.maximum(known.sum(0), 1),
                        FAR)
        k = int(np.argmin(mean))
        if mean[k] >= FAR:
            return None
        ratio = float((at[:, k] <= MATCH_DISTANCE).mean())
        far_from_k = np.abs(offsets - offsets[k]) > max(2, int(2.0 / self.slot_s))
        others = mean[far_from_k & (mean < FAR)]
        if others.size < 4 or ratio < self.min_ratio or mean[k] > self.max_distance:
            self._period = None
            return None
        median = float(np.median(others))
        margin = median - float(mean[k])
        if margin < min(self.min_margin, max(self.min_margin_still, 0.7 * median)):
            self._period = None
            return None
        # the period: of the slots d-1, d, d+1 (equal once the phase is forgiven), the one matched exactly best
        exact = [(np.where(known[:, j], np.take_along_axis(matrix, positions[:, j:j + 1], axis=1)[:, 0], 0).sum(),
                  j) for j in (k - 1, k, k + 1) if 0 <= j < offsets.size]
        period = float(offsets[min(exact)[1]] * self.slot_s)
        if self._period is None or abs(period - self._period) > 2 * self.slot_s:
            self._period, self._period_since = period, float(self.rows[0][1])
        start = float(self.rows[0][1])
        return Loop(period=period, start=start, end=t, ratio=round(ratio, 3), distance=round(float(mean[k]), 1),
                    margin=round(margin, 1), held_s=round(t - self._period_since, 1))

    def earlier_thumb(self, t: float) -> bytes | None:
        """The kept JPEG nearest to stream time `t` (for the evidence's earlier frame)."""
        if not self.thumbs:
            return None
        slot = min(self.thumbs, key=lambda s: abs(s * self.slot_s - t))
        return self.thumbs[slot] if abs(slot * self.slot_s - t) <= self.thumb_every_s else None


def _thumb(image: np.ndarray, width: int = 160) -> bytes:
    h, w = image.shape[:2]
    small = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return jpeg.tobytes() if ok else b""


class FrozenWatch:
    """Has the picture stopped? True once no frame has changed for `after_s` of stream time.

    A change is more than `min_changed` of a 64x36 grey thumbnail's pixels moving by more than `levels`
    grey levels from the last frame that changed: a clock or counter (under 1% of the frame) does not count
    as change, a person moving does (a near-still DFDC host on video/dev moved 3% of them by 10 levels only
    now and then: `levels` 6, `min_changed` 1.5% chosen there).
    """

    def __init__(self, after_s: float = 30.0, min_changed: float = 0.015, levels: float = 6.0):
        self.after_s, self.min_changed, self.levels = after_s, min_changed, levels
        self._ref: np.ndarray | None = None
        self._since = 0.0
        self._last_time = -math.inf

    def add(self, t: float, image: np.ndarray) -> float | None:
        """Record a frame; how long the picture has been still when it is `after_s` or more, else None."""
        thumb = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image, (64, 36),
                           interpolation=cv2.INTER_AREA).astype(np.int16)
        if self._ref is None or t < self._last_time or thumb.shape != self._ref.shape:
            self._ref, self._since = thumb, t
        elif (np.abs(thumb - self._ref) > self.levels).mean() > self.min_changed:
            self._ref, self._since = thumb, t
        self._last_time = t
        still = t - self._since
        return still if still >= self.after_s else None
