"""On-screen text: cards held to the camera and captions burnt into the video, read by OCR at <= 1 fps.

OCR costs far more than the other detectors per frame, and a card stays up for
seconds, so each room is read at most once per `every_s` of stream time (the
pipeline already skips unchanged frames). Each line read goes to the language
detector as a TextLine from the seller's side, with its box as the polygon so
the evidence crop shows the card.
"""

from __future__ import annotations

import threading

from livewarden.detectors.base import Detector
from livewarden.detectors.language import LanguageDetector
from livewarden.detectors.ocr import TextReader
from livewarden.model import Frame, Signal, TextLine


class ScreenTextDetector(Detector):
    name = "screen_text"
    kind = "counterfeit_talk"

    def __init__(self, reader: TextReader, language: LanguageDetector, every_s: float = 1.0,
                 min_confidence: float = 0.6):
        self.reader, self.language = reader, language
        self.every_s, self.min_confidence = every_s, min_confidence
        self._read_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def detect(self, frame: Frame) -> list[Signal]:
        with self._lock:
            last = self._read_at.get(frame.room_id)
            if last is not None and 0 <= frame.stream_time - last < self.every_s:
                return []
            self._read_at[frame.room_id] = frame.stream_time
        signals = []
        for ocr in self.reader.read(frame.image):
            if ocr.confidence < self.min_confidence or not any(c.isalnum() for c in ocr.text):
                continue  # nothing to read ("__" from a noisy strip)
            line = TextLine(frame.room_id, frame.stream_time, "ocr", ocr.text, role="seller",
                            wall_time=frame.wall_time)
            _, found = self.language.read(line, frame, [list(map(float, p)) for p in ocr.box])
            signals += found
        return signals
