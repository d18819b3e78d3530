"""Run a detector over items of many rooms, opening each room's state on first sight (what the pipeline does
with `open_room`, without the pipeline): for tests and benchmarks that feed frames by hand."""

from __future__ import annotations

from livewarden.detectors.base import Detector, Item, RoomDetector
from livewarden.model import Signal


class Rooms:
    def __init__(self, detector: Detector):
        self.detector = detector
        self.open: dict[str, RoomDetector] = {}

    def room(self, room_id: str) -> RoomDetector:
        if room_id not in self.open:
            self.open[room_id] = self.detector.open_room(room_id)
        return self.open[room_id]

    def detect(self, item: Item) -> list[Signal]:
        return self.room(item.room_id).process(item)

    def close(self, room_id: str) -> None:
        room = self.open.pop(room_id, None)
        if room is not None:
            room.close()
