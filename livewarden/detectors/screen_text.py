"""On-screen text: cards held to the camera and captions burnt into the video, read by OCR at <= 1 fps.

OCR costs far more than the other detectors per frame, and a card stays up for
seconds, so each room is read at most once per `every_s` of stream time (the
pipeline already skips unchanged frames). The lines read are grouped into blocks
(text_blocks.py: the lines of one card or banner) and each block goes to the
language reader as one TextLine from the seller's side, judged as a whole, with
the evidence on the line where the words are so the crop shows the card. A line that names a registered brand (its
word-marks, see wordmarks.py) is also a `mark` sighting of that brand, at a
lower confidence than a logo matched by its shape: the brand's name on a box
or a sign is the printed mark, but a card may only mention the brand.
"""

from __future__ import annotations

from typing import Any

from livewarden.detectors.base import Detector, RoomDetector
from livewarden.detectors.language import LanguageDetector
from livewarden.detectors.table import kinds_of
from livewarden.detectors.text_blocks import Placed, group_lines
from livewarden.detectors.wordmarks import WordMarks
from livewarden.model import Frame, Signal, TextLine


class ScreenTextDetector(Detector):
    name = "screen_text"
    kinds = kinds_of("screen_text")

    def __init__(self, reader: Any, language: LanguageDetector, every_s: float = 1.0, min_confidence: float = 0.6,
                 word_marks: WordMarks | None = None, word_mark_confidence: float = 0.6):
        self.reader, self.language = reader, language
        self.every_s, self.min_confidence = every_s, min_confidence
        self.word_marks, self.word_mark_confidence = word_marks, word_mark_confidence

    @classmethod
    def from_registry(cls, registry: Any, settings: Any) -> "ScreenTextDetector":
        from livewarden.detectors.ocr import TextReader

        s = settings.detectors.screen_text
        max_side = s.scan_max_side if settings.runtime.offline else s.live_max_side
        words = WordMarks.from_registry(registry) if s.word_marks else None
        return cls(TextReader(options={"max_side": max_side}), LanguageDetector.from_registry(registry, settings),
                   s.every_s, s.min_confidence, words, s.word_mark_confidence)

    def open_room(self, room_id: str) -> "ScreenTextRoom":
        return ScreenTextRoom(self)

    def warm(self) -> None:
        self.language.warm()

    def read(self, frame: Frame) -> list[Signal]:
        placed = [Placed(ocr.text, [list(map(float, p)) for p in ocr.box], ocr.confidence)
                  for ocr in self.reader.read(frame.image)
                  if ocr.confidence >= self.min_confidence and any(c.isalnum() for c in ocr.text)]
        signals = []  # ("__" from a noisy strip has nothing to read)
        for block in group_lines(placed):
            line = TextLine(frame.room_id, frame.stream_time, "ocr", block.text, role="seller",
                            wall_time=frame.wall_time)
            signals += self.language.read_block(line, block, frame, detector=self.name)
            for here in block.lines:
                signals += self.marks_in(here.text, here.confidence, here.polygon, frame)
        return signals

    def marks_in(self, text: str, confidence: float, polygon: list[list[float]], frame: Frame) -> list[Signal]:
        """The brands a line names, as mark sightings with the line as evidence."""
        if not self.word_marks:
            return []
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        return [Signal(room_id=frame.room_id, stream_time=frame.stream_time, kind="mark", subject=m.brand,
                       confidence=round(self.word_mark_confidence * confidence, 4), detector=self.name,
                       evidence={"polygon": polygon, "bbox": [min(xs), min(ys), max(xs), max(ys)], "via": "text",
                                 "text": text, "word": m.word},
                       frame=frame)
                for m in self.word_marks.find(text)]


class ScreenTextRoom(RoomDetector):
    """One room: when its screen was last read."""

    def __init__(self, detector: ScreenTextDetector):
        self.detector = detector
        self.read_at: float | None = None

    def process(self, frame: Frame) -> list[Signal]:
        if self.read_at is not None and 0 <= frame.stream_time - self.read_at < self.detector.every_s:
            return []
        self.read_at = frame.stream_time
        return self.detector.read(frame)
