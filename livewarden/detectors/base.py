"""The detector interface: one item in, signals out, no knowledge of rules or rooms.

A detector builds whatever index it needs from the registry once, in its
constructor, and must be safe to call from several room threads at once
(read-only state after construction, or its own lock).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from livewarden.model import Frame, Signal


class Detector(ABC):
    """Turns a Frame into Signals. Subclasses set `name` and `kind`."""

    name: str = "detector"
    kind: str = "signal"

    @abstractmethod
    def detect(self, frame: Frame) -> list[Signal]:
        """Return the signals seen in this frame (empty list when nothing)."""
