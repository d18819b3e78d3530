"""What was said, shown and typed in each room, with the flagged spans: the text side of the timeline.

Scan reports and the console show it so an analyst reads the words around a
flag, not just the flag. Kept per room and bounded (the newest lines win).
"""

from __future__ import annotations

import threading
from collections import deque

from livewarden.detectors.text import Assessment
from livewarden.model import TextLine

MAX_LINES_PER_ROOM = 2000
OCR_GAP_S = 3.0  # the same on-screen text read again within this many seconds is the same card, still up


class Transcript:
    def __init__(self, max_lines: int = MAX_LINES_PER_ROOM):
        self._lines: dict[str, deque[dict]] = {}
        self._max = max_lines
        self._on_screen: dict[str, dict[str, dict]] = {}  # room -> text -> its latest entry (OCR only)
        self._flagged: deque[tuple[str, dict]] = deque(maxlen=50)  # newest flagged lines of all rooms, for the console
        self._lock = threading.Lock()

    def record(self, line: TextLine, assessment: Assessment, prices: list[dict] = ()) -> None:
        """Keep one line; `prices` are the stated prices compared with an MSRP (span, ratio, floor, product,
        below_floor)."""
        entry = {
            "time": round(line.stream_time, 3),
            "source": line.source,
            "role": line.role,
            **({"author": line.author} if line.author else {}),
            "text": line.text,
            "offer": assessment.offer,
            "flags": [{"span": h.span, "start": h.start, "end": h.end, "term": h.term_id,
                       "normalized": h.normalized, **({"negated_by": h.negation} if h.negated else {})}
                      for h in assessment.hits],
            **({"prices": list(prices)} if prices else {}),
        }
        with self._lock:
            lines = self._lines.setdefault(line.room_id, deque(maxlen=self._max))
            if line.source == "ocr":
                still = self._on_screen.get(line.room_id, {}).get(line.text)
                if still is not None and entry["time"] - still.get("until", still["time"]) <= OCR_GAP_S:
                    still["until"] = entry["time"]  # the same card still on screen: one line with a time span
                    return
                screen = self._on_screen.setdefault(line.room_id, {})
                for text in [t for t, e in screen.items() if entry["time"] - e.get("until", e["time"]) > OCR_GAP_S]:
                    del screen[text]  # gone from the screen: forget it (keeps this small on long runs)
                screen[line.text] = entry
            lines.append(entry)
            if entry["flags"] or any(p["below_floor"] for p in prices):
                self._flagged.appendleft((line.room_id, entry))

    def flagged(self, limit: int = 6) -> list[tuple[str, dict]]:
        """The newest lines with a lexicon term (negated ones too) or a price under its floor, across rooms."""
        with self._lock:
            return list(self._flagged)[:limit]

    def lines(self, room_id: str) -> list[dict]:
        """The room's lines in time order."""
        with self._lock:
            return sorted(self._lines.get(room_id, ()), key=lambda e: e["time"])
