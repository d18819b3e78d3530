"""The detector contract: what every detector implements, and nothing more.

A `Detector` is built once from the registry and its settings (the read-only
index: mark features, catalog embeddings, enrolled faces, the lexicon) and is
shared by every room and worker thread. Each room it watches gets a
`RoomDetector` from `open_room`: the only place that room's state lives
(background model, tracks, keypoint reuse, OCR rate limit), dropped by
`close()` when the room ends, so memory does not grow with every room ever seen
and a room's state can live on whichever worker holds the room.

When a room moves to another worker (runtime/ray_engine.py) its state is not carried over: the new worker's
`open_room` starts it afresh, and the cost is what that state had learnt. For most detectors that is a frame or
two (face tracks, a product's background model, mark keypoints, OCR and code-reading rate limits, the words of
the speech segment in progress); the broadcast detector (loops, frozen pictures, restreams) needs its history
again, so a loop is found once more only after about one period on the new worker. Alerts survive the move
regardless: the store continues an open alert (cases/repository.py).

An item is a `Frame`, a `TextLine` or an `AudioChunk`; a detector says which it
reads (`reads`) and which signal kinds it may emit (`kinds`, declared once in
`detectors.table`). A detector knows nothing of rules: deciding is the policy's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Union

from livewarden.model import AudioChunk, Frame, Signal, TextLine

Item = Union[Frame, TextLine, AudioChunk]


class RoomDetector(ABC):
    """One room's view of a detector. Called for one item at a time (the pipeline never runs two items of one
    room through it at once), so it needs no lock of its own."""

    @abstractmethod
    def process(self, item: Item) -> list[Signal]:
        """The signals this item gives (empty when nothing)."""

    def close(self) -> None:
        """The room ended: let go of its state."""


class Detector(ABC):
    """Built once from (registry, settings); hands out one RoomDetector per room."""

    name: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]]  # every kind of Signal it may emit
    reads: ClassVar[type] = Frame  # the item type its rooms process

    @classmethod
    @abstractmethod
    def from_registry(cls, registry: Any, settings: Any) -> "Detector":
        """Build the index from the registry (and its cache); `settings` is the detector's own section."""

    @abstractmethod
    def open_room(self, room_id: str) -> RoomDetector:
        """A fresh state for one room."""

    def warm(self) -> None:
        """Load now what the first item would load (models): a live room must not wait for it. Scans skip this,
        so a run whose index is cached and that never needs a model never pays for it."""


def tunables(settings: Any, name: str) -> dict[str, Any]:
    """The detector's own settings section as keyword arguments (defaults when `settings` is None)."""
    from livewarden.config import Settings

    return getattr((settings or Settings()).detectors, name).model_dump(exclude={"enabled", "lexicon"})
