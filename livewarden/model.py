"""Plain records that flow through the pipeline: sources -> detectors -> policy -> cases.

They are dataclasses with no behaviour so every layer can be tested on its own.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded video frame of one room.

    `stream_time` is seconds on the stream clock (from the packet pts), which is
    what alerts report; `wall_time` is when the frame left the decoder, which is
    what latency is measured from.
    """

    room_id: str
    stream_time: float
    image: np.ndarray  # BGR, uint8, HxWx3
    index: int = 0
    wall_time: float = field(default_factory=time.time)
    # the change gate found the same picture as the last analysed one: detectors are not run on it, and what
    # they saw last still stands at this frame's time (so a still product or face keeps counting as seen)
    unchanged: bool = False

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True)
class AudioChunk:
    """A window of one room's audio, mono 16 kHz float32, on the stream clock.

    `keep` is the part of the window this chunk owns (windows overlap so a word
    cut at a window's edge is heard whole in the next one): a transcriber
    reports only the speech that starts inside it.
    """

    room_id: str
    stream_time: float  # where the window starts
    samples: np.ndarray
    keep: tuple[float, float]
    rate: int = 16000
    wall_time: float = field(default_factory=time.time)

    @property
    def duration(self) -> float:
        return self.samples.size / self.rate


@dataclass(frozen=True)
class EvidenceRef:
    """A file of evidence the worker cut for a signal (crop, annotated frame, the words), with its SHA-256.

    Signals carry references, not frames, so they serialise and can cross a
    process boundary; the store keeps the referenced files of the alerts it
    writes, checking the hash.
    """

    path: str
    sha256: str
    role: str  # "crop", "frame", "text", "reference"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256, "role": self.role}


@dataclass
class Signal:
    """What a detector saw in one item: a kind, a subject and a confidence.

    `evidence` holds small JSON-able facts (polygon, inliers, matched reference);
    `frame` is kept only until the worker has cut the evidence files
    (`evidence_refs`), and is never serialised.
    """

    room_id: str
    stream_time: float
    kind: str  # e.g. "mark"
    subject: str  # e.g. a brand id
    confidence: float
    detector: str
    evidence: dict[str, Any] = field(default_factory=dict)
    frame: Frame | None = field(default=None, repr=False)
    wall_time: float = field(default_factory=time.time)
    evidence_refs: list[EvidenceRef] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The idempotency key: the same sighting delivered twice has the same key (at-least-once buses).

        The wall time is when the item arrived (a stream that restarts begins its clock at 0 again, so stream
        times repeat); lines of chat may share it (two viewers in the same millisecond), so who wrote what is
        part of the key too.
        """
        words = self.evidence.get("text")
        said = f"|{self.evidence.get('author', '')}|{zlib.crc32(words.encode()):08x}" if words else ""
        return (f"{self.room_id}|{self.detector}|{self.kind}|{self.subject}|{self.stream_time:.3f}"
                f"|{self.wall_time:.3f}{said}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "room_id": self.room_id,
            "stream_time": round(self.stream_time, 3),
            "kind": self.kind,
            "subject": self.subject,
            "confidence": round(float(self.confidence), 4),
            "detector": self.detector,
            "evidence": self.evidence,
        }

    def to_message(self) -> dict[str, Any]:
        """Everything a bus carries (JSON-able): to_dict plus the wall time and the evidence references."""
        return {**self.to_dict(), "wall_time": self.wall_time, "key": self.key,
                "evidence_refs": [r.to_dict() for r in self.evidence_refs]}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> "Signal":
        return cls(room_id=message["room_id"], stream_time=float(message["stream_time"]), kind=message["kind"],
                   subject=message["subject"], confidence=float(message["confidence"]), detector=message["detector"],
                   evidence=dict(message.get("evidence") or {}), wall_time=float(message.get("wall_time", 0.0)),
                   evidence_refs=[EvidenceRef(**r) for r in message.get("evidence_refs", ())])


SEVERITIES = ("red_flag", "review")


@dataclass
class Finding:
    """A rule that fired for (room, rule, subject): what the policy hands to the store.

    One open finding per key; later hits update it (last_time, hits, confidence)
    instead of creating copies.
    """

    room_id: str
    rule: str
    subject: str
    severity: str
    first_time: float
    last_time: float
    confidence: float
    hits: int
    shadow: bool = False
    signals: list[Signal] = field(default_factory=list)
    message: str = ""
    first_signal_wall_time: float = 0.0
    alert_id: int | None = None  # set by the store once the finding is written
    # an open alert of the same key whose last hit is at most this long before `first_time` is continued, not
    # duplicated (the room's decisions moved between processes); 0: never (the rule's close_after_s is given)
    resume_within_s: float = 0.0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.room_id, self.rule, self.subject)


ROLES = ("seller", "moderator", "viewer")
TEXT_SOURCES = ("chat", "speech", "ocr")


@dataclass(frozen=True)
class ChatMessage:
    """One chat line of one room, as a chat adapter delivers it.

    `time` is wall-clock seconds (Unix epoch) when the message was sent; chat has
    no stream clock and keeps flowing while a room's video is down. `role` says
    who typed it: a seller or moderator offering fakes is an offer, a viewer
    asking "is this fake?" is not.
    """

    room_id: str
    time: float
    author: str
    role: str  # one of ROLES
    text: str
    source: str = "chat"  # "speech" for captions / an external ASR stream (Chinese, Vietnamese: no offline model)


@dataclass(frozen=True)
class TextLine:
    """A piece of text seen or heard in a room: a chat message, an OCR line, a speech segment.

    Everything the language detector reads arrives as a TextLine, so one matcher
    serves all three sources. `stream_time` is the stream clock for speech and
    OCR, and the wall clock for chat.
    """

    room_id: str
    stream_time: float
    source: str  # one of TEXT_SOURCES
    text: str
    role: str = "seller"  # speech and on-screen text come from the broadcaster
    author: str = ""
    wall_time: float = field(default_factory=time.time)
    language: str = ""  # as heard (speech: Whisper's, held per room) or declared; "" when not known
