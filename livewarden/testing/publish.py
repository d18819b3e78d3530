"""Push video into an RTMP server like a seller's encoder would (tests, demo, benchmarks).

`publish_file` remuxes a clip by stream copy, paced to real time, optionally
looping; `FramePublisher` encodes numpy frames live so a benchmark knows the
exact wall time a frame went on the wire (time-to-alert is measured from it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from livewarden.testing.clips import x264_options

# flush after every packet: without it the muxer may hold a packet in its buffer
_OUT_OPTIONS = {"flush_packets": "1"}


def _format_for(url: str) -> str:
    return "rtsp" if url.startswith(("rtsp://", "rtsps://")) else "flv"


def publish_file(path: str | Path, url: str, *, loop: bool = False,
                 stop: threading.Event | None = None, open_timeout: float = 5.0,
                 on_start: Callable[[float], None] | None = None) -> int:
    """Remux `path` (mp4/flv, H.264[/AAC]) to `url` at real-time pace, in this thread.

    With `loop`, starts over at the end and shifts timestamps so they keep
    increasing (a looping broadcast, as a cheating seller would send).
    Returns the number of packets sent; ends when the file ends (no loop) or `stop` is set.
    `on_start(wall)` is told the time.time() at which the clip's time 0 is sent,
    so a benchmark knows when each frame of each loop went out.
    """
    stop = stop or threading.Event()
    sent = 0
    with av.open(str(path)) as inp:
        streams = [s for s in inp.streams if s.type == "video"]
        streams += [s for s in inp.streams if s.type == "audio" and s.codec_context.name in ("aac", "mp3")]
        if not streams:
            raise ValueError(f"{path}: no video stream to publish")
        with av.open(url, mode="w", format=_format_for(url), container_options=_OUT_OPTIONS,
                     timeout=(open_timeout, open_timeout)) as out:
            out_streams = {s.index: out.add_stream_from_template(s) for s in streams}
            t_first: float | None = None
            offset = 0.0  # seconds added to timestamps in the current loop
            t_end = 0.0  # end of the latest packet, on the shifted clock
            wall0 = time.monotonic()
            if on_start is not None:
                on_start(time.time())
            while not stop.is_set():
                for pkt in inp.demux(streams):
                    if stop.is_set():
                        break
                    if pkt.dts is None:  # demuxer flush packet
                        continue
                    tb = pkt.time_base
                    t = float(pkt.dts * tb)
                    if t_first is None:
                        t_first = t
                    due = t - t_first + offset
                    t_end = max(t_end, due + float((pkt.duration or 0) * tb))
                    delay = wall0 + due - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        break
                    if offset:
                        shift = round(offset / tb)
                        pkt.dts += shift
                        if pkt.pts is not None:
                            pkt.pts += shift
                    pkt.stream = out_streams[pkt.stream.index]
                    out.mux(pkt)
                    sent += 1
                if not loop or stop.is_set():
                    break
                inp.seek(0)
                offset = t_end
    return sent


def start_publisher(path: str | Path, url: str, *, loop: bool = False, stop: threading.Event | None = None,
                    on_start: Callable[[float], None] | None = None) -> tuple[threading.Thread, threading.Event]:
    """Run `publish_file` in a daemon thread; set the returned event to stop it.

    An error in the thread (server gone, bad file) ends the thread; it is kept
    on `thread.error` for a test to inspect.
    """
    stop = stop or threading.Event()

    def run() -> None:
        try:
            publish_file(path, url, loop=loop, stop=stop, on_start=on_start)
        except Exception as exc:  # reported via thread.error, not raised in a daemon thread
            thread.error = exc  # type: ignore[attr-defined]

    thread = threading.Thread(target=run, name=f"publish:{Path(path).name}", daemon=True)
    thread.error = None  # type: ignore[attr-defined]
    thread.start()
    return thread, stop


class FramePublisher:
    """Encode BGR frames live to RTMP with libx264 ultrafast/zerolatency (no B-frames, fixed GOP).

    Timestamps follow the wall clock since the first frame, so irregular
    `send` calls still play back at the right pace.
    """

    def __init__(self, url: str, *, fps: int = 30, gop_seconds: float = 1.0, crf: int = 23,
                 preset: str = "ultrafast", open_timeout: float = 5.0) -> None:
        self.url = url
        self.fps = fps
        self.frames_sent = 0
        self._out = av.open(url, mode="w", format=_format_for(url), container_options=_OUT_OPTIONS,
                            timeout=(open_timeout, open_timeout))
        self._options = x264_options(fps, gop_seconds, crf=crf, preset=preset)
        self._stream = None
        self._t0 = 0.0
        self._last_pts = -1

    def send(self, image: np.ndarray) -> float:
        """Encode and write one frame; returns time.time() right after its packets were written."""
        if self._stream is None:
            h, w = image.shape[:2]
            self._stream = self._out.add_stream("libx264", rate=self.fps, options=self._options)
            self._stream.width, self._stream.height = w - w % 2, h - h % 2
            self._stream.pix_fmt = "yuv420p"
            self._t0 = time.monotonic()
        s = self._stream
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[: s.height, : s.width]), format="bgr24")
        pts = max(self._last_pts + 1, round((time.monotonic() - self._t0) * self.fps))
        frame.pts, frame.time_base = pts, Fraction(1, self.fps)
        self._last_pts = pts
        self._out.mux(s.encode(frame))
        self.frames_sent += 1
        return time.time()

    def close(self) -> None:
        if self._out is None:
            return
        try:
            if self._stream is not None:
                self._out.mux(self._stream.encode(None))
        except av.error.FFmpegError:
            pass  # server already gone: nothing left to deliver
        finally:
            try:
                self._out.close()
            except av.error.FFmpegError:
                pass
            self._out = None

    def __enter__(self) -> "FramePublisher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
