"""Where the API reads the rooms being watched: this process's pipeline (`LocalRooms`), or the room board in Redis
for rooms watched elsewhere (`room_board.BoardRooms`: Ray room workers, `watch --no-decide`). Both answer
`views(room_ids)` (room -> its view: health, what is on camera, when its thumbnail was taken), `thumbnail` and
`broadcast`."""

from __future__ import annotations

from typing import Any


class LocalRooms:
    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def views(self, room_ids: list[str]) -> dict[str, dict]:
        rooms = self.pipeline.rooms
        return {room_id: status.view() for room_id in room_ids if (status := rooms.get(room_id)) is not None}

    def thumbnail(self, room_id: str) -> bytes | None:
        status = self.pipeline.rooms.get(room_id)
        return status.thumbnail if status is not None and status.thumbnail else None

    def broadcast(self, room_id: str) -> dict | None:
        """What the room has shown (the policy's timeline) and what was said, shown and typed in it."""
        if room_id not in self.pipeline.rooms:
            return None
        return {"on_camera": self.pipeline.timeline.spans(room_id),
                "transcript": self.pipeline.transcript.lines(room_id)}
