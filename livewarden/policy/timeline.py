"""What was on camera in each room, when: brand marks, products, unknown products, protected persons and codes
as time spans.

The answer to "what was sold in this room, by whom, and when?", for the
console and scan reports. Consecutive sightings of one subject less than `gap_s` apart
(stream time) are one span.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

from livewarden.model import Signal

KINDS = ("mark", "product", "unknown_product", "face", "code")  # a code in no scheme is only ever recorded here


@dataclass
class Span:
    kind: str
    subject: str
    first_stream_time: float
    last_stream_time: float
    sightings: int
    best_confidence: float


class Timeline:
    def __init__(self, gap_s: float = 3.0):
        self.gap_s = gap_s
        self._spans: dict[str, list[Span]] = {}
        self._lock = threading.Lock()

    def observe(self, signal: Signal) -> None:
        if signal.kind not in KINDS:
            return
        t = signal.stream_time
        with self._lock:
            spans = self._spans.setdefault(signal.room_id, [])
            for span in reversed(spans):
                if span.kind == signal.kind and span.subject == signal.subject and t - span.last_stream_time <= self.gap_s:
                    span.last_stream_time = max(span.last_stream_time, t)
                    span.sightings += 1
                    span.best_confidence = max(span.best_confidence, signal.confidence)
                    return
            spans.append(Span(signal.kind, signal.subject, t, t, 1, signal.confidence))

    def forget(self, room_id: str) -> None:
        with self._lock:
            self._spans.pop(room_id, None)

    def spans(self, room_id: str) -> list[dict]:
        """Every span of the room, in order of first sighting."""
        with self._lock:
            return [asdict(s) for s in sorted(self._spans.get(room_id, []), key=lambda s: s.first_stream_time)]

    def seen(self, room_id: str, kind: str, now_stream_time: float) -> list[str]:
        """Subjects of `kind` seen within `gap_s` of `now_stream_time`, the most recent first.

        Either side: a chat line reaches us after frames that came later on the stream clock were analysed, so
        the span of what was on camera when it was typed may already reach past its time.
        """
        with self._lock:
            recent = [s for s in self._spans.get(room_id, []) if s.kind == kind
                      and s.first_stream_time - self.gap_s <= now_stream_time <= s.last_stream_time + self.gap_s]
        return [s.subject for s in sorted(recent, key=lambda s: -s.last_stream_time)]

    def on_camera(self, room_id: str, now_stream_time: float) -> str:
        """What was seen most recently (product, person), if within `gap_s` of `now_stream_time`, else ''."""
        with self._lock:
            recent = [s for s in self._spans.get(room_id, [])
                      if s.kind != "code" and now_stream_time - s.last_stream_time <= self.gap_s]
        if not recent:
            return ""
        latest = max(recent, key=lambda s: s.last_stream_time)
        return "(unknown product)" if latest.kind == "unknown_product" else latest.subject
