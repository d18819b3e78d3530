"""Change gate: pass a frame downstream only if the picture changed, so a static
scene costs almost nothing in the detectors.

The comparison is a mean absolute difference between tiny grayscale
thumbnails (32x18 by default, area-averaged, ~0.15 ms on a 720p frame). The
averaging makes it blind to sensor noise and compression flicker and cheap
enough to run on every sampled frame of every room.

Threshold choice (grey levels 0-255, averaged over the thumbnail):
* a static real scene with sensor noise (sigma 3) through H.264 crf 28
  measures 0.0-0.2 (tests/test_media.py checks it stays under 1);
* a solid logo card covering ~5 % of a 720p picture gives ~3.4; a talking
  head sampled at 2 fps gives 0.5-30 (median ~15 on a real clip).
The default 2.0 sits above the noise and below a small object entering,
and is compared against the last *accepted* frame, so a slow drift
(a logo fading in) accumulates until it passes. For what drifts slower than
that, `max_interval_s` accepts a frame at least every 2 s of stream time anyway.
"""

from __future__ import annotations

import cv2
import numpy as np

from livewarden.model import Frame


def thumbnail(image: np.ndarray, size: tuple[int, int] = (32, 18)) -> np.ndarray:
    """Tiny float32 grayscale version of a BGR (or gray) image."""
    # subsample first: the area average of every 4th pixel is as stable and ~5x cheaper
    step = max(1, min(image.shape[1] // (size[0] * 4), image.shape[0] // (size[1] * 4)))
    small = cv2.resize(image[::step, ::step], size, interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return small.astype(np.float32)


class ChangeGate:
    """One per room. `changed(frame)` is True for the first frame, for a frame that
    differs from the last accepted one by more than `threshold`, and for any frame
    `max_interval_s` (stream clock) after the last accepted one."""

    def __init__(self, threshold: float = 2.0, thumb: tuple[int, int] = (32, 18),
                 max_interval_s: float = 2.0) -> None:
        self.threshold = threshold
        self.thumb = thumb
        self.max_interval_s = max_interval_s
        self._ref: np.ndarray | None = None
        self._ref_time = 0.0
        self.last_score = 0.0
        self.accepted = 0
        self.skipped = 0

    def score(self, frame: Frame) -> float:
        """Mean absolute grey-level difference to the last accepted frame (inf if none)."""
        if self._ref is None:
            return float("inf")
        return float(np.abs(thumbnail(frame.image, self.thumb) - self._ref).mean())

    def changed(self, frame: Frame) -> bool:
        thumb = thumbnail(frame.image, self.thumb)
        if self._ref is None or self._ref.shape != thumb.shape:
            self.last_score = float("inf")
        else:
            self.last_score = float(np.abs(thumb - self._ref).mean())
        keep_alive = frame.stream_time - self._ref_time >= self.max_interval_s
        # a stream clock that went backwards (new source) also restarts the gate
        if self.last_score > self.threshold or keep_alive or frame.stream_time < self._ref_time:
            self._ref, self._ref_time = thumb, frame.stream_time
            self.accepted += 1
            return True
        self.skipped += 1
        return False

    def reset(self) -> None:
        self._ref = None
        self._ref_time = 0.0
