"""The in-process pipeline: many rooms, one machine.

One reader thread per room decodes and samples its stream (PyAV releases the
GIL while decoding); a small pool of detector workers, one per core, takes
the newest changed frame of whichever room is waiting, runs the detectors,
feeds the policy and commits alerts to the store before telling anyone.
A room whose stream fails is marked so in its status; the others go on.

Text takes a shorter path: chat messages (from chat adapters, on their own
threads) and speech segments (one listener thread per room, when speech is on)
go straight through the language detector to the policy: matching a line
costs microseconds. Chat keeps flowing while a room's video is down.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable

from livewarden.cases.store import Alert, CaseStore
from livewarden.detectors.base import Detector
from livewarden.detectors.language import LanguageDetector
from livewarden.media.sampler import ChangeGate
from livewarden.media.sources import RoomHealth, SourceError, VideoSource
from livewarden.model import ChatMessage, Signal, TextLine
from livewarden.policy.engine import Policy, Update
from livewarden.registry.schema import Registry
from livewarden.runtime.slots import LatestFrames
from livewarden.runtime.timeline import Timeline
from livewarden.runtime.transcript import Transcript

log = logging.getLogger(__name__)

AlertCallback = Callable[[Alert, Update], None]


@dataclass
class RoomStatus:
    """What the console shows per room: the source's health plus what analysis did with it."""

    room_id: str
    source: VideoSource
    analysed: int = 0
    unchanged: int = 0
    detector_errors: int = 0
    alerts: int = 0
    last_stream_time: float = 0.0
    error: str = ""
    done: bool = False
    chat_messages: int = 0
    speech_segments: int = 0
    listening: bool = False  # the speech listener is running
    clock_offset: float | None = None  # stream time minus wall time of the latest frame: puts chat on the stream clock
    first_analysed_wall: float | None = None  # when the room's first frame had been through every detector
    last_signals: list[Signal] = field(default_factory=list)  # what the detectors saw in the last analysed frame

    @property
    def health(self) -> RoomHealth:
        return self.source.health


@dataclass
class PipelineOptions:
    sample_fps: float = 2.0
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    realtime: bool | None = None  # None: live URLs in real time, files as fast as possible
    offline: bool = False  # True for scans: never drop a sampled frame
    change_gate: bool = True
    speech: bool = False  # transcribe each room's audio (one listener thread per room; ~0.1-0.3 s CPU per 4 s)


class Pipeline:
    def __init__(self, registry: Registry, detectors: list[Detector], policy: Policy, store: CaseStore,
                 options: PipelineOptions | None = None, on_alert: AlertCallback | None = None,
                 rooms: list[str] | None = None, language: LanguageDetector | None = None,
                 transcriber=None):
        self.registry = registry
        self.detectors = detectors
        self.policy = policy
        self.store = store
        self.options = options or PipelineOptions()
        self.on_alert = on_alert
        self.stop_event = threading.Event()
        self.slots = LatestFrames()
        self.recent_alerts: deque[Alert] = deque(maxlen=200)
        self.timeline = Timeline()  # what was on camera in each room, when
        self.transcript = Transcript()  # what was said, shown and typed, with the flagged spans
        self.language = language
        if language is not None:
            language.on_camera = lambda room_id, t: self.timeline.seen(room_id, "product", t)
            language.on_line = self.transcript.record
        self.transcriber = transcriber  # a SpeechTranscriber when options.speech
        self.chat_sources: list = []  # chat adapters started and stopped with the pipeline (see add_chat)
        self.started_wall = time.time()
        self._threads: list[threading.Thread] = []
        wanted = set(rooms) if rooms else None
        self.rooms: dict[str, RoomStatus] = {}
        for room in registry.rooms:
            if wanted is None or room.id in wanted:
                source = VideoSource(room.id, room.source, sample_fps=self.options.sample_fps,
                                     realtime=self.options.realtime)
                self.rooms[room.id] = RoomStatus(room.id, source)

    # -- lifecycle -------------------------------------------------------------
    def add_chat(self, make_source) -> None:
        """Add a chat adapter: `make_source(on_message, on_error)` builds it; it starts and stops with the pipeline."""
        self.chat_sources.append(make_source(self.chat, lambda problem: log.warning("chat: %s", problem)))

    def start(self) -> "Pipeline":
        for status in self.rooms.values():
            t = threading.Thread(target=self._read_room, args=(status,), name=f"room-{status.room_id}", daemon=True)
            t.start()
            self._threads.append(t)
        for source in self.chat_sources:
            source.start()
        if self.options.speech and self.transcriber is not None and self.language is not None:
            for status in self.rooms.values():
                status.listening = True
                t = threading.Thread(target=self._listen_room, args=(status,), name=f"speech-{status.room_id}",
                                     daemon=True)
                t.start()
                self._threads.append(t)
        for i in range(self.options.workers):
            t = threading.Thread(target=self._work, name=f"detector-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        for source in self.chat_sources:
            source.stop()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def all_done(self) -> bool:
        """True when every room's source has ended (files) and no frame waits for analysis.

        Never while chat feeds are attached: chat has no end, and keeps coming when every video is down.
        """
        if self.chat_sources:
            return False
        return all(s.done and not s.listening for s in self.rooms.values()) and self.slots.idle()  # idle: nothing pending or in analysis

    def run_until_done(self, poll: float = 0.1) -> None:
        while not self.all_done() and not self.stop_event.is_set():
            time.sleep(poll)

    # -- threads ---------------------------------------------------------------
    def _read_room(self, status: RoomStatus) -> None:
        gate = ChangeGate() if self.options.change_gate else None
        try:
            for frame in status.source.frames(self.stop_event):
                status.last_stream_time = frame.stream_time
                status.clock_offset = frame.stream_time - frame.wall_time
                if gate is not None and not gate.changed(frame):
                    status.unchanged += 1
                    if status.last_signals:  # what was seen still stands at this frame's time
                        self.slots.put(replace(frame, unchanged=True), block=self.options.offline,
                                       stop=self.stop_event)
                    continue
                self.slots.put(frame, block=self.options.offline, stop=self.stop_event)
        except SourceError as exc:
            status.error = str(exc)
            log.warning("room %s: %s", status.room_id, exc)
        except Exception as exc:  # a broken room must not take the process down
            status.error = f"{type(exc).__name__}: {exc}"
            log.exception("room %s: reader crashed", status.room_id)
        finally:
            status.done = True

    def _work(self) -> None:
        while not self.stop_event.is_set():
            frame = self.slots.take()
            if frame is None:
                continue
            try:
                self._analyse(frame)
            finally:
                self.slots.done(frame.room_id)

    def _analyse(self, frame) -> None:
        status = self.rooms[frame.room_id]
        if frame.unchanged:  # the same picture: the last analysed frame's signals again, at this frame's time
            now = time.time()
            self._emit(status, [replace(s, stream_time=frame.stream_time, frame=frame, wall_time=now,
                                        evidence={**s.evidence, "unchanged": True}) for s in status.last_signals])
            return
        status.analysed += 1
        seen: list[Signal] = []
        for detector in self.detectors:
            try:
                signals = detector.detect(frame)
            except Exception:
                status.detector_errors += 1
                log.exception("detector %s failed on room %s at %.2fs", detector.name, frame.room_id, frame.stream_time)
                continue
            seen += signals
            self._emit(status, signals)
        status.last_signals = seen
        if status.first_analysed_wall is None:
            status.first_analysed_wall = time.time()

    def _emit(self, status: RoomStatus, signals: list[Signal]) -> None:
        """Signals -> timeline and policy -> committed alerts -> callbacks, in that order."""
        for signal in signals:
            self.timeline.observe(signal)
            for update in self.policy.observe(signal):
                alert = self.store.record(update)  # committed before anyone is told
                if update.opened:
                    status.alerts += 1
                    self.recent_alerts.appendleft(alert)
                if self.on_alert:
                    self.on_alert(alert, update)

    # -- text ------------------------------------------------------------------
    def read_text(self, line: TextLine) -> None:
        """One line of chat or speech through the language detector and the policy (any thread)."""
        status = self.rooms.get(line.room_id)
        if status is None or self.language is None:
            return
        _, signals = self.language.read(line)  # (the transcript is told by the detector)
        self._emit(status, signals)

    def chat(self, message: ChatMessage) -> None:
        """A chat adapter's callback: put the message on the room's stream clock and read it."""
        status = self.rooms.get(message.room_id)
        if status is None:  # a room this pipeline does not watch (adapters given `rooms` count these as filtered)
            return
        status.chat_messages += 1
        # on the stream clock of the room's video when there is one; otherwise seconds since we started
        # (a message sent before we started counts as at 0)
        offset = status.clock_offset if status.clock_offset is not None else -self.started_wall
        self.read_text(TextLine(message.room_id, max(0.0, message.time + offset), message.source, message.text,
                                role=message.role, author=message.author, wall_time=message.time))

    def _listen_room(self, status: RoomStatus) -> None:
        """Transcribe the room's audio in short windows; each segment is a line from the seller's side.

        A live URL that fails or ends is opened again (backoff up to 10 s) until the pipeline stops; a file
        ends when it ends. No audio, or a failure, never affects the room's video or chat.
        """
        from livewarden.media.audio import RATE, owned_span, read_audio

        window_s, overlap_s, backoff = 5.0, 1.0, 1.0
        live = "://" in status.source.url
        try:
            while not self.stop_event.is_set():
                try:
                    for i, (start, samples) in enumerate(read_audio(status.source.url, window_s, overlap_s)):
                        if self.stop_event.is_set():
                            return
                        backoff = 1.0
                        keep = owned_span(start, samples.size / RATE, window_s, overlap_s, first=i == 0)
                        for segment in self.transcriber.transcribe(samples, start, keep=keep):
                            if segment.text.strip():
                                status.speech_segments += 1
                                self.read_text(TextLine(status.room_id, segment.start, "speech",
                                                        segment.text.strip()))
                except Exception as exc:  # no audio, or the stream failed
                    log.warning("room %s: speech: %s", status.room_id, exc)
                if not live or self.stop_event.wait(backoff):
                    return
                backoff = min(10.0, backoff * 2)
        finally:
            status.listening = False

    def dropped_busy(self, room_id: str) -> int:
        return self.slots.replaced.get(room_id, 0)
