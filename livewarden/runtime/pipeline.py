"""The in-process pipeline: many rooms, one machine.

One reader thread per room decodes and samples its stream (PyAV releases the
GIL while decoding); a small pool of detector workers, one per core, takes
the newest changed frame of whichever room is waiting and runs the room's
detectors on it. Chat lines (from chat adapters, on their own threads) and
audio windows (one listener thread per room, when speech is on) go through
the same contract: each room has one RoomDetector per detector, for the items
it reads. Every signal goes out on the bus (evidence cut first, so no frame
travels); the decider on the other side runs the policy and commits alerts
before anyone is told. A room whose stream fails is marked so in its status;
the others go on. Rooms can be added and removed while running; a removed
room's state is dropped everywhere.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import cv2
from prometheus_client import CollectorRegistry, Histogram

from livewarden.cases.db import unreachable
from livewarden.detectors.base import RoomDetector
from livewarden.detectors.language import SELLER_ROLES
from livewarden.errors import Unavailable
from livewarden.media.sampler import ChangeGate
from livewarden.media.sources import RoomHealth, SourceError, VideoSource
from livewarden.model import AudioChunk, ChatMessage, Frame, Signal, TextLine
from livewarden.runtime.bus import ALERTS, OBSERVED, SIGNALS, AlertEvent
from livewarden.runtime.memory import give_back_freed_memory, keep_memory_flat
from livewarden.runtime.slots import LatestFrames
from livewarden.runtime.room_board import board_for, post_broadcasts
from livewarden.runtime.transcript import MAX_LINES_PER_ROOM, Transcript

if TYPE_CHECKING:
    from livewarden.policy.engine import Update
    from livewarden.registry.schema import Room
    from livewarden.runtime.build import System

log = logging.getLogger(__name__)
NO_AUDIO_RETRY_S = 30.0  # a room whose stream has no audio: how often speech looks again


CLUSTER_LINES_PER_ROOM = 200  # a room's page on a cluster: the newest lines (a policy process has many rooms)
NOT_ON_CAMERA = ("stream_frame",)  # signals about the frame itself (its fingerprint), not something in it
THUMBNAIL_EVERY_S, THUMBNAIL_WIDTH = 1.0, 240  # ~10 KB a room; 1-2 ms of a core per room per second


def thumbnail_jpeg(image) -> bytes:
    """A frame scaled to THUMBNAIL_WIDTH as JPEG: what a wall tile shows (a 720p frame kept per room would be
    2.7 MB each)."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (THUMBNAIL_WIDTH, max(1, round(h * THUMBNAIL_WIDTH / w))), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return jpeg.tobytes() if ok else b""


@dataclass
class RoomStatus:
    """What the console shows per room: the source's health plus what analysis did with it."""

    room_id: str
    source: VideoSource
    detectors: dict[type, list[tuple[str, RoomDetector]]] = field(default_factory=dict)  # item type -> rooms
    stop: threading.Event = field(default_factory=threading.Event)
    analysed: int = 0
    unchanged: int = 0
    detector_errors: int = 0
    alerts: int = 0
    last_stream_time: float = 0.0
    error: str = ""
    done: bool = False
    chat_messages: int = 0
    seller_lines_waiting: int = 0  # seller/moderator chat lines queued for the seller-side reader (lag)
    speech_segments: int = 0
    speech_lag_s: float = 0.0  # how far the room's transcript is behind its live audio (the speech budget's queue)
    no_audio: bool = False  # the source has no audio stream (speech waits for one)
    listening: bool = False  # the speech listener is running
    clock_offset: float | None = None  # stream time minus wall time of the latest frame: puts chat on the stream clock
    first_analysed_wall: float | None = None  # when the room's first frame had been through every detector
    last_signals: list[Signal] = field(default_factory=list)  # what the detectors saw in the last analysed frame
    thumbnail: bytes = b""  # a small JPEG of an analysed frame, at most THUMBNAIL_EVERY_S old (the console's wall)
    thumbnail_at: float = 0.0  # its wall time
    threads: list[threading.Thread] = field(default_factory=list)

    @property
    def health(self) -> RoomHealth:
        return self.source.health

    def view(self) -> dict:
        """What the API and the console show of the room now (`GET /rooms`), here or from the room board."""
        h = self.health
        return {"health": {"state": h.state, "fps_in": h.fps_in, "lag_s": h.lag_s, "drops": h.drops,
                           "analysed": self.analysed, "last_error": h.last_error,
                           "speech_lag_s": round(self.speech_lag_s, 3) if self.listening else None},
                "on_camera": sorted({s.subject for s in self.last_signals if s.kind not in NOT_ON_CAMERA}),
                "thumbnail_at": self.thumbnail_at or None}


def _outage(exc: Exception) -> Unavailable | None:
    """`Unavailable`, saying why, when `exc` is the case database being unreachable; None for any other failure."""
    reason = unreachable(exc)
    return None if reason is None else Unavailable(f"the case database is unavailable: {reason}")


class Decider:
    """The policy's side of the bus: resolve, observe, commit, tell. Runs wherever the signals are consumed."""

    def __init__(self, system: "System"):
        self.policy, self.store, self.bus = system.policy, system.store, system.bus
        self._unsaved: dict[int, Update] = {}  # finding -> its update the store has not committed yet, in order
        self._commit_lock = threading.Lock()  # one committer at a time, in order (in process: detector threads)
        on_redis = getattr(self.bus, "redis", None) is not None
        # on Redis the held updates are committed once a batch, before it is acked (RedisStreamsBus.after_batch)
        self._batched = on_redis
        if self._batched:
            self.bus.after_batch(self._commit)
        # what was said, shown and typed, with the flagged spans (with the policy's timeline: a room's page); a
        # policy process deciding many rooms keeps fewer lines of each
        self.transcript = Transcript(CLUSTER_LINES_PER_ROOM if on_redis else MAX_LINES_PER_ROOM)
        self.bus.subscribe(OBSERVED, self.transcript.observe)
        self.bus.subscribe(SIGNALS, self.decide)
        if on_redis:  # rooms' pages for API servers elsewhere (runtime/room_board.py)
            self.bus.every(1.0, lambda: post_broadcasts(self.bus, self.policy.timeline, self.transcript),
                           "room-broadcasts")

    def decide(self, signal: Signal) -> None:
        resolved = self.policy.resolve(signal)
        if resolved is not None:
            self.bus.publish(OBSERVED, resolved)
            updates = self.policy.observe(resolved)
            with self._commit_lock:
                for update in updates:  # one per finding: its newest state (the store writes the whole of it)
                    earlier = self._unsaved.get(id(update.finding))
                    update.opened = update.opened or (earlier is not None and earlier.opened)
                    self._unsaved[id(update.finding)] = update
        if not self._batched:
            self._commit()

    def _commit(self) -> None:
        """Commit the updates not yet committed, in one transaction, before anyone is told: after each signal in
        process; after each batch it read on Redis (`after_batch`, before the batch is acked: one commit for
        hundreds of signals). With the case database unreachable they stay, and `Unavailable` asks the bus to
        deliver the signals again: the policy has counted them already (a redelivery resolves to nothing), so what
        it decided is committed from here once the database is back. A finding's updates are held as one (its
        newest), so what is held grows with the findings, not with the signals."""
        with self._commit_lock:
            if not self._unsaved:
                return
            updates = list(self._unsaved.values())
            try:
                committed = list(zip(self.store.record_many(updates), updates))
                self._unsaved.clear()
            except Exception as exc:
                if (outage := _outage(exc)) is not None:
                    raise outage from exc
                committed = self._commit_one_by_one()  # not an outage: one update fails for good; not the others
            for alert, update in committed:
                self.bus.publish(ALERTS, AlertEvent(alert, update))

    def _commit_one_by_one(self) -> list:
        """Each held update on its own: one that fails (not an outage) is dropped and logged, the rest commit."""
        committed = []
        while self._unsaved:
            key, update = next(iter(self._unsaved.items()))
            try:
                committed.append((self.store.record(update), update))
            except Exception as exc:
                if (outage := _outage(exc)) is not None:
                    for alert, done in committed:  # what did commit is told before the outage is
                        self.bus.publish(ALERTS, AlertEvent(alert, done))
                    raise outage from exc
                log.exception("the update of %s %s %s could not be recorded; dropped", update.finding.room_id,
                              update.finding.rule, update.finding.subject)
            del self._unsaved[key]
        return committed


class Pipeline:
    def __init__(self, system: "System", rooms: list[str] | None = None, decide: bool = True,
                 name: str | None = None):
        self.system = system
        self.registry, self.policy, self.store, self.bus = system.registry, system.policy, system.store, system.bus
        self.detectors = system.detectors
        self.options = system.settings.runtime
        self.stop_event = threading.Event()
        self.slots = LatestFrames()
        self.recent_alerts: deque = deque(maxlen=200)
        self.chat_sources: list = []  # chat adapters started and stopped with the pipeline (see add_chat)
        # seller/moderator chat lines are also read by the learned classifier (tens of ms a line), so they are
        # read in order on their own thread: viewers' chat never waits for them
        self._seller_chat = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seller-chat")
        self._seller_count = threading.Lock()
        self.started_wall = time.time()
        self.started = False
        self._threads: list[threading.Thread] = []
        self._rooms_lock = threading.Lock()
        self.rooms: dict[str, RoomStatus] = {}
        self.metrics = CollectorRegistry()  # what /metrics shows of the pipeline beside the rooms' health
        self.detector_seconds = Histogram("livewarden_detector_seconds", "time a detector took per item",
                                          ["detector"], registry=self.metrics,
                                          buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5))
        # with an outside bus, the decisions may be another process's (`livewarden policy`): then this one only
        # publishes its rooms' signals
        self.decider = Decider(system) if decide else None
        # what was said, shown and typed: the decider's (a pipeline that only publishes never learns it)
        self.transcript = self.decider.transcript if self.decider is not None else Transcript()
        # with Redis, the rooms' health goes on the room board too, for API servers elsewhere (named `name`)
        self.board = board_for(system, name)
        self.bus.subscribe(ALERTS, self._count_alert)
        wanted = None if rooms is None else set(rooms)
        for room in self.registry.rooms:
            if wanted is None or room.id in wanted:
                self.add_room(room)

    @property
    def timeline(self):
        """What was on camera in each room, when (kept by the policy)."""
        return self.policy.timeline

    @property
    def language(self):
        return next((d for d in self.detectors if d.reads is TextLine), None)

    # -- rooms -----------------------------------------------------------------
    def add_room(self, room: "Room") -> RoomStatus:
        """Start watching a room (at once when the pipeline runs, else at start)."""
        source = VideoSource(room.id, room.source, sample_fps=self.options.sample_fps, realtime=self.options.realtime)
        status = RoomStatus(room.id, source)
        for detector in self.detectors:
            status.detectors.setdefault(detector.reads, []).append((detector.name, detector.open_room(room.id)))
        with self._rooms_lock:
            if room.id in self.rooms:
                raise ValueError(f"room {room.id!r} is already watched")
            self.rooms[room.id] = status
        if self.started:
            self._start_room(status)
        return status

    def remove_room(self, room_id: str, timeout: float = 10.0) -> None:
        """Stop watching a room and drop its state everywhere (the store keeps its alerts)."""
        with self._rooms_lock:
            status = self.rooms.pop(room_id, None)
        if status is None:
            return
        status.stop.set()
        deadline = time.monotonic() + timeout
        for t in status.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self.slots.forget(room_id, max(0.0, deadline - time.monotonic()))
        for rooms in status.detectors.values():
            for _, room_detector in rooms:
                room_detector.close()
        self.policy.close_room(room_id)
        self.transcript.forget(room_id)
        if self.board is not None:
            self.board.stopped(room_id)
        self.system.spool.forget_room(room_id)
        give_back_freed_memory()

    def _start_room(self, status: RoomStatus) -> None:
        threads = [threading.Thread(target=self._read_room, args=(status,), name=f"room-{status.room_id}",
                                    daemon=True)]
        if AudioChunk in status.detectors:
            status.listening = True
            threads.append(threading.Thread(target=self._listen_room, args=(status,),
                                            name=f"speech-{status.room_id}", daemon=True))
        status.threads = threads
        for t in threads:
            t.start()

    # -- lifecycle -------------------------------------------------------------
    def add_chat(self, make_source) -> None:
        """Add a chat adapter: `make_source(on_message, on_error)` builds it; it starts and stops with the pipeline."""
        self.chat_sources.append(make_source(self.chat, lambda problem: log.warning("chat: %s", problem)))

    def start(self) -> "Pipeline":
        keep_memory_flat()
        self.started = True
        for status in list(self.rooms.values()):
            self._start_room(status)
        for source in self.chat_sources:
            source.start()
        if self.board is not None:
            self.board.start(self.rooms)
        for i in range(self.options.workers or max(1, os.cpu_count() or 1)):
            t = threading.Thread(target=self._work, name=f"detector-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        for status in list(self.rooms.values()):
            status.stop.set()
        for source in self.chat_sources:
            source.stop()
        deadline = time.monotonic() + timeout
        for t in self._threads + [t for s in list(self.rooms.values()) for t in s.threads]:
            t.join(max(0.0, deadline - time.monotonic()))
        self._seller_chat.shutdown(wait=True)  # every accepted seller line is read before the pipeline ends
        if self.board is not None:
            self.board.stop()
        self.bus.flush()  # and every signal has left (an outside bus buffers them)

    def all_done(self) -> bool:
        """True when every room's source has ended (files) and no frame waits for analysis.

        Never while chat feeds are attached: chat has no end, and keeps coming when every video is down.
        """
        if self.chat_sources:
            return False
        return all(s.done and not s.listening for s in list(self.rooms.values())) and self.slots.idle()

    def run_until_done(self, poll: float = 0.1) -> None:
        while not self.all_done() and not self.stop_event.is_set():
            time.sleep(poll)

    # -- threads ---------------------------------------------------------------
    def _read_room(self, status: RoomStatus) -> None:
        gate = ChangeGate() if self.options.change_gate else None
        try:
            for frame in status.source.frames(status.stop):
                status.last_stream_time = frame.stream_time
                status.clock_offset = frame.stream_time - frame.wall_time
                if gate is not None and not gate.changed(frame):
                    status.unchanged += 1
                    if status.last_signals:  # what was seen still stands at this frame's time
                        self.slots.put(replace(frame, unchanged=True), block=self.options.offline, stop=status.stop)
                    continue
                self.slots.put(frame, block=self.options.offline, stop=status.stop)
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
                status = self.rooms.get(frame.room_id)
                if status is not None and not status.stop.is_set():
                    self._analyse(status, frame)
            finally:
                self.slots.done(frame.room_id)

    def _analyse(self, status: RoomStatus, frame: Frame) -> None:
        if frame.unchanged:  # the same picture: the last analysed frame's signals again, at this frame's time
            now = time.time()
            self._publish([replace(s, stream_time=frame.stream_time, frame=frame, wall_time=now,
                                   evidence={**s.evidence, "unchanged": True}, evidence_refs=[])
                           for s in status.last_signals])
            return
        status.analysed += 1
        seen: list[Signal] = []
        for name, room_detector in status.detectors.get(Frame, ()):
            signals = self._process(status, name, room_detector, frame)
            seen += signals
            self._publish(signals)
        status.last_signals = seen
        now = time.time()
        if status.first_analysed_wall is None:
            status.first_analysed_wall = now
        if now - status.thumbnail_at >= THUMBNAIL_EVERY_S:
            status.thumbnail, status.thumbnail_at = thumbnail_jpeg(frame.image), now

    def _process(self, status: RoomStatus, name: str, room_detector: RoomDetector, item) -> list[Signal]:
        started = time.perf_counter()
        try:
            return room_detector.process(item)
        except Exception:
            status.detector_errors += 1
            log.exception("detector %s failed on room %s at %.2fs", name, status.room_id, item.stream_time)
            return []
        finally:
            self.detector_seconds.labels(name).observe(time.perf_counter() - started)

    def _publish(self, signals: list[Signal]) -> None:
        """Cut the evidence of what a rule may act on (the others travel without their frame), then publish.

        A signal's wall time is when its item arrived (the frame left the decoder): what latency is measured
        from, and what cross-room presence compares.
        """
        for signal in signals:
            if signal.frame is not None:
                signal.wall_time = signal.frame.wall_time
            if self.policy.wants(signal):
                self.system.spool.attach(signal)
            else:
                signal.frame = None
            self.bus.publish(SIGNALS, signal)

    def _count_alert(self, event: AlertEvent) -> None:
        if event.update.opened:
            status = self.rooms.get(event.alert.room_id)
            if status is not None:
                status.alerts += 1
            self.recent_alerts.appendleft(event.alert)

    # -- text and audio --------------------------------------------------------
    def read_text(self, line: TextLine) -> None:
        """One line of chat through the room's readers of text (any thread)."""
        status = self.rooms.get(line.room_id)
        if status is None:
            return
        for name, room_detector in status.detectors.get(TextLine, ()):
            self._publish(self._process(status, name, room_detector, line))

    def chat(self, message: ChatMessage) -> None:
        """A chat adapter's callback: put the message on the room's stream clock and read it."""
        status = self.rooms.get(message.room_id)
        if status is None:  # a room this pipeline does not watch (adapters given `rooms` count these as filtered)
            return
        status.chat_messages += 1
        # on the stream clock of the room's video when there is one; otherwise seconds since we started
        # (a message sent before we started counts as at 0)
        offset = status.clock_offset if status.clock_offset is not None else -self.started_wall
        line = TextLine(message.room_id, max(0.0, message.time + offset), message.source, message.text,
                        role=message.role, author=message.author, wall_time=message.time)
        if line.role not in SELLER_ROLES:
            self.read_text(line)
            return
        with self._seller_count:  # two threads change the count: += alone can lose one
            status.seller_lines_waiting += 1
        try:
            self._seller_chat.submit(self._read_seller_line, status, line)
        except RuntimeError:  # the pipeline has stopped: read it here rather than lose it
            self._read_seller_line(status, line)

    def _read_seller_line(self, status: RoomStatus, line: TextLine) -> None:
        try:
            self.read_text(line)
        except Exception:  # a reader's failure is counted by _process; this is anything else
            log.exception("room %s: seller chat line", line.room_id)
        finally:
            with self._seller_count:
                status.seller_lines_waiting -= 1

    def _listen_room(self, status: RoomStatus) -> None:
        """The room's audio in overlapping windows, through its readers of audio (speech).

        A live URL that fails or ends is opened again (with backoff) until the room stops; a file ends when it
        ends. No audio, or a failure, never affects the room's video or chat.
        """
        from livewarden.media.audio import RATE, NoAudio, audio_chunks
        from livewarden.media.backoff import Backoff

        s = self.system.settings.detectors.speech
        live = "://" in status.source.url
        backoff = Backoff(initial=1.0, maximum=10.0)
        try:
            while not status.stop.is_set():
                first = None  # (monotonic, stream time) at the end of the session's first window
                try:
                    for chunk in audio_chunks(status.room_id, status.source.url, s.window_s, s.overlap_s):
                        if status.stop.is_set():
                            return
                        backoff.reset()
                        end = chunk.stream_time + len(chunk.samples) / RATE
                        first = first or (time.monotonic(), end)
                        for name, room_detector in status.detectors[AudioChunk]:
                            signals = self._process(status, name, room_detector, chunk)
                            status.speech_segments += sum(1 for x in signals if x.kind == "text_line")
                            self._publish(signals)
                        if live:  # wall time gone by minus audio heard since the first window
                            status.speech_lag_s = max(0.0, time.monotonic() - first[0] - (end - first[1]))
                except NoAudio:  # a video-only broadcast: said once, then looked at again now and then, quietly
                    if not status.no_audio:
                        log.info("room %s: no audio stream; speech listens again every %.0f s", status.room_id,
                                 NO_AUDIO_RETRY_S)
                    status.no_audio = True
                    if not live or status.stop.wait(NO_AUDIO_RETRY_S):
                        return
                    continue
                except Exception as exc:  # the stream failed
                    log.warning("room %s: speech: %s", status.room_id, exc)
                status.no_audio = False
                if not live or status.stop.wait(backoff.next()):
                    return
        finally:
            status.listening = False

    def dropped_busy(self, room_id: str) -> int:
        return self.slots.replaced.get(room_id, 0)
