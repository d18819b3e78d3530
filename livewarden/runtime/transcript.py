"""What was said, shown and typed in each room, with the flagged spans: the text side of the timeline.

Scan reports and the console show it so an analyst reads the words around a
flag, not just the flag. Kept per room and bounded (the newest lines win).
"""

from __future__ import annotations

import threading
from collections import deque

from livewarden.model import Signal

MAX_LINES_PER_ROOM = 2000
OCR_GAP_S = 3.0  # the same on-screen text read again within this many seconds is the same card, still up


class Transcript:
    def __init__(self, max_lines: int = MAX_LINES_PER_ROOM):
        self._lines: dict[str, deque[tuple[float, dict]]] = {}  # (exact stream time, line): seller chat comes late
        self._max = max_lines
        self._on_screen: dict[str, dict[str, dict]] = {}  # room -> text -> its latest entry (OCR only)
        self._flagged: deque[tuple[str, dict]] = deque(maxlen=50)  # newest flagged lines of all rooms, for the console
        self._lock = threading.Lock()

    def observe(self, signal: Signal) -> None:
        """Keep the line of a `text_line` signal; attach a `price` (attributed by the policy) to its line."""
        if signal.kind == "text_line":
            self._record(signal)
        elif signal.kind == "price":
            self._price(signal)

    def _record(self, signal: Signal) -> None:
        ev = signal.evidence
        entry = {
            "time": ev["time"],
            "source": ev["source"],
            "role": ev["role"],
            **({"author": ev["author"]} if ev.get("author") else {}),
            "text": ev["text"],
            **({"language": ev["language"]} if ev.get("language") else {}),  # as heard (speech) or declared
            "offer": ev["offer"],
            "flags": ev["flags"],
        }
        room = signal.room_id
        with self._lock:
            lines = self._lines.setdefault(room, deque(maxlen=self._max))
            if entry["source"] == "ocr":
                still = self._on_screen.get(room, {}).get(entry["text"])
                if still is not None and entry["time"] - still.get("until", still["time"]) <= OCR_GAP_S:
                    still["until"] = entry["time"]  # the same card still on screen: one line with a time span
                    return
                screen = self._on_screen.setdefault(room, {})
                for text in [t for t, e in screen.items() if entry["time"] - e.get("until", e["time"]) > OCR_GAP_S]:
                    del screen[text]  # gone from the screen: forget it (keeps this small on long runs)
                screen[entry["text"]] = entry
            lines.append((signal.stream_time, entry))
            if entry["flags"]:
                self._flagged.appendleft((room, entry))

    def _price(self, signal: Signal) -> None:
        ev = signal.evidence
        price = {k: ev[k] for k in ("span", "start", "end", "ratio", "floor")} | {
            "product": signal.subject, "below_floor": ev["ratio"] < ev["floor"]}
        with self._lock:
            for _, entry in reversed(self._lines.get(signal.room_id, ())):
                if entry["time"] == ev["time"] and entry["text"] == ev["text"] and entry["source"] == ev["source"]:
                    entry.setdefault("prices", []).append(price)
                    if price["below_floor"] and not entry["flags"] and (signal.room_id, entry) not in self._flagged:
                        self._flagged.appendleft((signal.room_id, entry))
                    return

    def forget(self, room_id: str) -> None:
        with self._lock:
            self._lines.pop(room_id, None)
            self._on_screen.pop(room_id, None)

    def flagged(self, limit: int = 6) -> list[tuple[str, dict]]:
        """The newest lines with a lexicon term (negated ones too) or a price under its floor, across rooms."""
        with self._lock:
            return list(self._flagged)[:limit]

    def lines(self, room_id: str) -> list[dict]:
        """The room's lines in time order."""
        with self._lock:
            return [entry for _, entry in sorted(self._lines.get(room_id, ()), key=lambda pair: pair[0])]
