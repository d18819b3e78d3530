"""Video sources: one room's stream (RTMP/RTSP/HLS or a file) as timestamped `Frame`s.

Each `VideoSource` decodes in its own reader thread and hands sampled frames to
the consumer through a tiny queue, so:

* a slow consumer never makes a live stream fall behind: the oldest waiting
  frame is dropped (counted in `health.drops`) instead of the socket backing up;
* `stop` ends the iterator within ~0.1 s even while the reader is blocked in a
  network read (the reader itself exits after at most `read_timeout`; PyAV's
  interrupt callback only knows time-outs, so it cannot be woken earlier);
* every packet is decoded (H.264 needs it), but only frames due under the
  time-based `sample_fps` decimation are converted to BGR — the conversion
  costs more than decoding at 2 fps sampling.

A network stream that cannot be opened, drops or sends garbage is retried with
exponential backoff and jitter; a file is read once and ends.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import av

from livewarden.errors import LivewardenError
from livewarden.media.backoff import Backoff
from livewarden.model import Frame

NETWORK_SCHEMES = {"rtmp", "rtmps", "rtmpt", "rtsp", "rtsps", "http", "https", "srt", "udp", "tcp"}

#: Low-latency demuxer options per scheme (measured with nginx-rtmp, see tests and the report).
#: `fflags=nobuffer` is deliberately NOT used for RTMP: it throws away the packets
#: read while probing, i.e. the keyframe, and the first picture then waits a full GOP.
#: A tiny probesize/analyzeduration is what removes the startup delay (nginx sends
#: the stream layout in onMetaData + the AVC sequence header).
_COMMON = {"flags": "low_delay", "fflags": "discardcorrupt"}
_OPTIONS = {
    "rtmp": {"rtmp_live": "live", "rtmp_buffer": "100", "probesize": "32", "analyzeduration": "0"},
    "rtsp": {"rtsp_transport": "tcp", "probesize": "500000", "analyzeduration": "500000"},
    "http": {"probesize": "500000", "analyzeduration": "1000000", "live_start_index": "-1"},
    "other": {"probesize": "500000", "analyzeduration": "500000"},
}

STATES = ("connecting", "live", "reconnecting", "ended", "failed", "stopped")
_END = object()


class SourceError(LivewardenError):
    """A source that cannot work at all (bad URL, unreadable file); the message names room and URL."""


def redact(url: str) -> str:
    """`url` without secrets: user:password and query values become ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@\s]*@", "//***@", url)
    if not parts.scheme or len(parts.scheme) == 1:  # a path (or a Windows drive)
        return url
    if "@" not in parts.netloc and not parts.query:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = re.sub(r"=([^&]*)", "=***", parts.query) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _scrub(text: str, url: str, safe: str) -> str:
    text = text.replace(url, safe)
    return re.sub(r"(\w+://)[^/@\s'\"]*@", r"\1***@", text)


@dataclass
class RoomHealth:
    """What the console shows per room. Fields are updated one by one by the reader
    thread (each assignment is atomic); use `VideoSource.health_snapshot()` for a
    consistent copy."""

    room_id: str
    state: str = "connecting"
    fps_in: float = 0.0  # decoded frames per second, last ~2 s
    fps_sampled: float = 0.0  # frames handed to the consumer per second, last ~2 s
    lag_s: float = 0.0  # wall clock minus stream clock since the session's first frame (live/paced)
    frames_decoded: int = 0
    frames_sampled: int = 0
    drops: int = 0  # decode/demux errors + sampled frames dropped because the consumer was behind
    reconnects: int = 0  # reconnect attempts (failed opens included)
    last_error: str = ""
    last_frame_wall: float = 0.0
    first_frame_wall: float = 0.0  # when this source first decoded a frame (start-up: how long until it was analysed)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("fps_in", "fps_sampled", "lag_s"):
            d[k] = round(d[k], 3)
        return d


class _Rate:
    """Events per second over a sliding wall-clock window."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self.times: collections.deque[float] = collections.deque()

    def add(self, now: float) -> float:
        self.times.append(now)
        while self.times and now - self.times[0] > self.window:
            self.times.popleft()
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(self.times[-1] - self.times[0], 1e-6)

    def reset(self) -> None:
        self.times.clear()


class _Halt(Exception):
    pass


class VideoSource:
    """One room's video as `Frame`s, sampled at `sample_fps` on the stream clock.

    `realtime` (files only): True paces playback to the stream clock like a live
    stream, False reads as fast as possible (offline scan, no frame dropped);
    None means False for files. Network streams are always live.
    `decoder_threads=1` is the cheapest for many rooms on few cores (frame
    threading adds a frame of delay per thread and buys nothing when all cores
    are busy with other rooms); 0 lets FFmpeg choose.
    """

    def __init__(self, room_id: str, url: str | os.PathLike, *, sample_fps: float | None = 2.0,
                 realtime: bool | None = None, reconnect: bool = True, max_backoff: float = 30.0,
                 open_timeout: float = 10.0, read_timeout: float = 5.0, decoder_threads: int = 1,
                 queue_size: int = 2, max_consecutive_errors: int = 50) -> None:
        self.room_id = room_id
        self.url = os.fspath(url)
        self.safe_url = redact(self.url)
        self.sample_fps = sample_fps if sample_fps and sample_fps > 0 else None
        self.reconnect = reconnect
        self.max_backoff = max_backoff
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.decoder_threads = decoder_threads
        self.queue_size = max(1, queue_size)
        self.max_consecutive_errors = max_consecutive_errors
        self.health = RoomHealth(room_id)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

        parts = urlsplit(self.url) if "://" in self.url else None
        if parts is not None and parts.scheme.lower() != "file":
            scheme = parts.scheme.lower()
            if scheme not in NETWORK_SCHEMES:
                raise SourceError(f"room {room_id}: unsupported stream scheme {scheme!r} in {self.safe_url} "
                                  f"(supported: {', '.join(sorted(NETWORK_SCHEMES))})")
            try:
                host = parts.hostname
                _ = parts.port  # raises on a malformed port
            except ValueError as exc:
                raise SourceError(f"room {room_id}: malformed stream URL {self.safe_url}: {exc}") from None
            if not host:
                raise SourceError(f"room {room_id}: stream URL without a host: {self.safe_url}")
            self.is_network = True
            self.scheme = scheme
        else:
            self.is_network = False
            self.scheme = "file"
            if parts is not None:
                self.url = parts.path
        self.realtime = True if self.is_network else bool(realtime)
        # stream clock state, kept across reconnects so stream_time stays monotonic
        self._offset = 0.0
        self._last_stream_time: float | None = None
        self._last_wall = 0.0
        self._next_sample = 0.0
        self._index = 0

    # -- public ------------------------------------------------------------
    def health_snapshot(self) -> RoomHealth:
        with self._lock:
            return dataclasses.replace(self.health)

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Yield sampled frames until `stop` is set, the file ends, or the source fails.

        Raises `SourceError` for a file that cannot be opened, or a network
        stream that fails while `reconnect=False`.
        """
        halt = threading.Event()
        q: queue.Queue = queue.Queue(maxsize=self.queue_size)
        self._thread = threading.Thread(target=self._reader, args=(stop, halt, q),
                                        name=f"source:{self.room_id}", daemon=True)
        self._set(state="connecting")
        self._thread.start()
        try:
            while not stop.is_set():
                try:
                    item = q.get(timeout=0.1)
                except queue.Empty:
                    if not self._thread.is_alive() and q.empty():
                        break
                    continue
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            halt.set()
            if self.health.state not in ("ended", "failed"):
                self._set(state="stopped", fps_in=0.0, fps_sampled=0.0)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the reader thread to exit (≤ read_timeout after stop); True if it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- reader thread -----------------------------------------------------
    def _set(self, **fields) -> None:
        with self._lock:
            for k, v in fields.items():
                setattr(self.health, k, v)

    def _error(self, exc: BaseException | str) -> str:
        msg = _scrub(str(exc), self.url, self.safe_url) if not isinstance(exc, str) else exc
        if isinstance(exc, BaseException):
            msg = f"{type(exc).__name__}: {msg}"
        self._set(last_error=msg)
        return msg

    def _open(self) -> av.container.InputContainer:
        if not self.is_network:
            return av.open(self.url)
        family = {"rtmps": "rtmp", "rtmpt": "rtmp", "rtsps": "rtsp", "https": "http"}.get(self.scheme, self.scheme)
        opts = {**_COMMON, **_OPTIONS.get(family, _OPTIONS["other"]),
                "rw_timeout": str(int(self.read_timeout * 1e6))}
        if family == "rtsp":
            opts["timeout"] = opts.pop("rw_timeout")
        return av.open(self.url, options=opts, timeout=(self.open_timeout, self.read_timeout))

    def _reader(self, stop: threading.Event, halt: threading.Event, q: queue.Queue) -> None:
        halted = lambda: stop.is_set() or halt.is_set()  # noqa: E731
        backoff = Backoff(0.5, self.max_backoff, jitter=0.25)
        try:
            while not halted():
                try:
                    container = self._open()
                except (av.error.FFmpegError, OSError) as exc:
                    msg = self._error(exc)
                    if not self.is_network or not self.reconnect:
                        self._set(state="failed")
                        what = "file" if not self.is_network else "stream"
                        self._put(q, SourceError(f"room {self.room_id}: cannot open {what} {self.safe_url}: {msg}"),
                                  halted, drop=True)
                        return
                    self._set(state="reconnecting", fps_in=0.0, fps_sampled=0.0,
                              reconnects=self.health.reconnects + 1)
                    if self._sleep(backoff.next(), halted):
                        return
                    continue
                try:
                    got = self._session(container, q, halted)
                except _Halt:
                    return
                finally:
                    container.close()
                if not self.is_network:
                    self._set(state="ended", fps_in=0.0, fps_sampled=0.0)
                    return
                if not self.reconnect:
                    self._set(state="ended", fps_in=0.0, fps_sampled=0.0)
                    return
                if got:
                    backoff.reset()
                self._set(state="reconnecting", fps_in=0.0, fps_sampled=0.0,
                          reconnects=self.health.reconnects + 1)
                if self._sleep(backoff.next(), halted):
                    return
        except Exception as exc:  # a bug must end this room, not hang its consumer
            self._set(state="failed")
            self._put(q, SourceError(f"room {self.room_id}: reader crashed on {self.safe_url}: {self._error(exc)}"),
                      halted, drop=True)
        finally:
            if halted():
                self._set(state="stopped", fps_in=0.0, fps_sampled=0.0)
            try:  # offline: the end marker must not push out the last frames
                self._put(q, _END, halted, drop=self.realtime)
            except _Halt:
                pass

    def _sleep(self, delay: float, halted) -> bool:
        """Wait `delay` seconds unless halted first; True if halted."""
        end = time.monotonic() + delay
        while time.monotonic() < end:
            if halted():
                return True
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))
        return halted()

    def _put(self, q: queue.Queue, item, halted, *, drop: bool) -> None:
        if drop:  # live: newest wins, the consumer sees the present
            while True:
                try:
                    q.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        old = q.get_nowait()
                        if isinstance(old, Frame):
                            self._set(drops=self.health.drops + 1)
                    except queue.Empty:
                        pass
        while True:  # offline: wait for the consumer, never drop
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                if halted():
                    raise _Halt

    def _session(self, container, q: queue.Queue, halted) -> bool:
        """Decode one connection/file until it ends; True if it delivered any frame."""
        if not container.streams.video:
            self._error(f"no video stream in {self.safe_url}")
            return False
        stream = container.streams.video[0]
        cc = stream.codec_context
        if self.decoder_threads == 1:
            cc.thread_count = 1
        else:
            cc.thread_type = "AUTO"
            cc.thread_count = self.decoder_threads
        rate = float(stream.average_rate or stream.guessed_rate or 25) or 25.0
        live = self.realtime
        rate_in, rate_out = _Rate(), _Rate()
        first_pts: float | None = None
        wall0 = 0.0
        n_session = 0
        errors = 0
        if self._last_stream_time is not None:  # a new session continues the stream clock
            gap = time.time() - self._last_wall if self.is_network else 0.0
            self._offset = self._last_stream_time + max(1.0 / rate, gap)
        packets = container.demux(stream)
        while True:
            if halted():
                raise _Halt
            try:
                packet = next(packets)
            except StopIteration:
                return n_session > 0
            except av.error.EOFError:
                return n_session > 0
            except (av.error.FFmpegError, OSError) as exc:
                msg = self._error(exc)
                if self.is_network:  # timeout, reset, garbage: reconnect
                    return n_session > 0
                errors += 1
                self._set(drops=self.health.drops + 1)
                if errors > self.max_consecutive_errors:
                    self._set(last_error=f"gave up after {errors} read errors: {msg}")
                    return n_session > 0
                packets = container.demux(stream)
                continue
            try:
                decoded = packet.decode()
            except (av.error.FFmpegError, ValueError) as exc:
                errors += 1
                self._error(exc)
                self._set(drops=self.health.drops + 1)
                if errors > self.max_consecutive_errors:
                    if self.is_network:
                        return n_session > 0  # garbage stream: reconnect
                    self._set(last_error=f"gave up after {errors} decode errors: {self.health.last_error}")
                    return n_session > 0
                continue
            for frame in decoded:
                errors = 0
                now = time.time()
                t = frame.time
                if t is None:
                    t = n_session / rate
                if first_pts is None:
                    first_pts, wall0 = t, now
                    self._set(state="live")
                    if not self.health.first_frame_wall:
                        self._set(first_frame_wall=now)
                    if self._last_stream_time is None:
                        self._offset = 0.0
                rel = t - first_pts
                stream_time = self._offset + rel
                if self._last_stream_time is not None and stream_time <= self._last_stream_time - 1.0:
                    # timestamps jumped back (publisher restarted its clock): rebase
                    self._offset += self._last_stream_time + 1.0 / rate - stream_time
                    stream_time = self._last_stream_time + 1.0 / rate
                if live and not self.is_network:  # paced file: wait for the frame's time
                    delay = wall0 + rel - time.time()
                    while delay > 0:
                        if halted():
                            raise _Halt
                        time.sleep(min(delay, 0.05))
                        delay = wall0 + rel - time.time()
                    now = time.time()
                n_session += 1
                self._index += 1
                self._last_stream_time, self._last_wall = stream_time, now
                fields = dict(frames_decoded=self.health.frames_decoded + 1, fps_in=rate_in.add(now),
                              last_frame_wall=now)
                if live:
                    fields["lag_s"] = (now - wall0) - rel
                if self.sample_fps is None or stream_time >= self._next_sample - 1e-3:
                    period = 1.0 / self.sample_fps if self.sample_fps else 0.0
                    self._next_sample += period
                    if self._next_sample <= stream_time:  # after a gap: no burst of catch-up samples
                        self._next_sample = stream_time + period
                    image = frame.to_ndarray(format="bgr24")
                    item = Frame(room_id=self.room_id, stream_time=stream_time, image=image,
                                 index=self._index - 1, wall_time=time.time())
                    fields.update(frames_sampled=self.health.frames_sampled + 1, fps_sampled=rate_out.add(now))
                    self._set(**fields)
                    self._put(q, item, halted, drop=live)
                else:
                    self._set(**fields)
