"""Media layer: clips, file and RTMP sources, sampling, change gate, faults.

RTMP tests run a real private nginx-rtmp (Debian nginx + libnginx-mod-rtmp)
and are skipped, with the reason, only when it is not installed.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from livewarden.testing.clips import pattern_frames, write_clip
from livewarden.testing.publish import FramePublisher, start_publisher
from livewarden.testing.rtmp_server import RtmpServer
from livewarden.media.sampler import ChangeGate
from livewarden.media.sources import SourceError, VideoSource, redact
from livewarden.model import Frame

RTMP_OK, RTMP_WHY = RtmpServer.available()
rtmp = pytest.mark.skipif(not RTMP_OK, reason=f"nginx-rtmp not available: {RTMP_WHY}")

FPS = 25


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    out = {}
    for name, n in (("a.mp4", 4 * FPS), ("a.flv", 2 * FPS), ("b.flv", 2 * FPS)):
        out[name] = d / name
        write_clip(out[name], pattern_frames(n, fps=FPS, label=name[0]), FPS, gop_seconds=1.0)
    return out


def _run(src: VideoSource, stop: threading.Event | None = None, until=None) -> list[Frame]:
    stop = stop or threading.Event()
    got = []
    for f in src.frames(stop):
        got.append(f)
        if until and until(got):
            stop.set()
    return got


# -- clips and files ---------------------------------------------------------------


def test_write_clip_is_h264_with_fixed_gop(clips):
    for name in ("a.mp4", "a.flv"):
        with av.open(str(clips[name])) as c:
            s = c.streams.video[0]
            assert s.codec_context.name == "h264"
            keys = [f.time for f in c.decode(video=0) if f.key_frame]
        assert keys[:2] == pytest.approx([0.0, 1.0], abs=0.05), name  # keyframe every second


def test_file_source_fast_reads_every_frame(clips):
    src = VideoSource("r1", clips["a.mp4"], sample_fps=None)
    t0 = time.monotonic()
    frames = _run(src)
    assert time.monotonic() - t0 < 3.0  # not paced
    assert len(frames) == 4 * FPS
    assert [f.index for f in frames] == list(range(4 * FPS))
    times = [f.stream_time for f in frames]
    assert times[0] == 0.0 and all(b > a for a, b in zip(times, times[1:]))
    assert times[-1] == pytest.approx((4 * FPS - 1) / FPS, abs=1e-3)
    assert frames[0].image.shape == (240, 320, 3) and frames[0].image.dtype == np.uint8
    assert not np.array_equal(frames[0].image, frames[1].image)  # moving pattern
    h = src.health_snapshot()
    assert h.state == "ended" and h.frames_decoded == 4 * FPS and h.drops == 0 and h.reconnects == 0


def test_file_source_paced_plays_in_real_time(clips):
    src = VideoSource("r1", clips["a.flv"], sample_fps=4.0, realtime=True)
    t0 = time.monotonic()
    frames = _run(src)
    elapsed = time.monotonic() - t0
    assert 1.8 < elapsed < 3.0  # a 2 s clip
    assert 7 <= len(frames) <= 9
    for f in frames:  # each frame handed over close to its due time
        assert abs((f.wall_time - frames[0].wall_time) - f.stream_time) < 0.3


@pytest.mark.parametrize("sample_fps,expected", [(2.0, 8), (5.0, 20), (1.0, 4)])
def test_sample_fps_decimation(clips, sample_fps, expected):
    src = VideoSource("r1", clips["a.mp4"], sample_fps=sample_fps)
    frames = _run(src)
    assert abs(len(frames) - expected) <= 1
    gaps = np.diff([f.stream_time for f in frames])
    assert gaps.min() > 0.8 / sample_fps
    h = src.health_snapshot()
    assert h.frames_decoded == 4 * FPS and h.frames_sampled == len(frames)


def test_stop_event_ends_iteration_promptly(clips):
    src = VideoSource("r1", clips["a.mp4"], realtime=True, sample_fps=None)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    t0 = time.monotonic()
    frames = _run(src, stop)
    assert time.monotonic() - t0 < 1.0
    assert 0 < len(frames) < 4 * FPS
    assert src.health_snapshot().state == "stopped"
    assert src.join(2.0)


# -- change gate ---------------------------------------------------------------------


def _frame(img: np.ndarray, t: float) -> Frame:
    return Frame(room_id="r", stream_time=t, image=img)


def test_change_gate_static_change_and_keepalive():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    gate = ChangeGate(threshold=2.0, max_interval_s=2.0)
    noisy = lambda: np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)  # noqa: E731
    decisions = [gate.changed(_frame(noisy(), t * 0.5)) for t in range(4)]  # 0 .. 1.5 s
    assert decisions == [True, False, False, False]  # first frame, then static
    logo = base.copy()
    logo[150:230, 280:420] = (0, 0, 255)  # a ~5 % card appears
    assert gate.changed(_frame(logo, 1.6))
    assert not gate.changed(_frame(logo, 2.0))
    assert gate.changed(_frame(logo, 3.6))  # keep-alive: 2 s after the last accepted
    assert gate.accepted == 3 and gate.skipped == 4


def test_change_gate_ignores_codec_noise_of_static_scene(tmp_path):
    rng = np.random.default_rng(2)
    scene = np.zeros((240, 320, 3), np.uint8)
    scene[:, :160] = (40, 90, 160)
    scene[60:180, 200:300] = (200, 200, 200)
    frames = [np.clip(scene + rng.normal(0, 3, scene.shape), 0, 255).astype(np.uint8) for _ in range(FPS)]
    write_clip(tmp_path / "static.mp4", frames, FPS, crf=28)
    gate = ChangeGate()
    decoded = _run(VideoSource("r", tmp_path / "static.mp4", sample_fps=None))
    assert sum(gate.changed(f) for f in decoded) == 1
    assert gate.last_score < 1.0


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://host/x", "rtmp:///live/x", "rtmp://host:99999999/x", "gopher://a/b"])
def test_bad_url_raises_source_error_naming_room(url):
    with pytest.raises(SourceError, match="room shop-7"):
        VideoSource("shop-7", url)


def test_secrets_are_redacted():
    assert redact("rtmp://bob:hunter2@h:1935/live/x?token=abc") == "rtmp://***@h:1935/live/x?token=***"
    with pytest.raises(SourceError) as exc:
        VideoSource("r", "foo://bob:hunter2@h/x")
    assert "hunter2" not in str(exc.value)


def test_missing_file_raises_source_error(tmp_path):
    path = tmp_path / "nope.mp4"
    with pytest.raises(SourceError, match=r"room r3: cannot open file .*nope\.mp4"):
        _run(VideoSource("r3", path))


def test_garbage_file_raises_source_error(tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(3).integers(0, 255, 200_000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError, match="room r4"):
        _run(VideoSource("r4", path))


def test_truncated_and_corrupted_files_do_not_crash(clips, tmp_path):
    data = clips["a.flv"].read_bytes()
    # truncated flv: frames up to the cut, then a clean end
    (tmp_path / "cut.flv").write_bytes(data[: len(data) // 2])
    src = VideoSource("r5", tmp_path / "cut.flv", sample_fps=None)
    frames = _run(src)
    assert 5 < len(frames) < 2 * FPS and src.health_snapshot().state == "ended"
    # garbage written over the middle: decode errors are counted, frames still come
    bad = bytearray(data)
    rng = np.random.default_rng(4)
    for start in range(len(bad) // 4, len(bad) - 2000, len(bad) // 6):
        bad[start:start + 1500] = rng.integers(0, 255, 1500, dtype=np.uint8).tobytes()
    (tmp_path / "bad.flv").write_bytes(bytes(bad))
    src = VideoSource("r6", tmp_path / "bad.flv", sample_fps=None)
    frames = _run(src)
    h = src.health_snapshot()
    assert len(frames) > 10 and h.state == "ended"
    assert h.drops > 0 or len(frames) < 2 * FPS  # damage is visible, never a crash
    # truncated mp4 (no index at the end): a clear error naming the room
    mp4 = clips["a.mp4"].read_bytes()
    (tmp_path / "cut.mp4").write_bytes(mp4[: len(mp4) // 3])
    with pytest.raises(SourceError, match=r"room r7: cannot open file .*cut\.mp4"):
        _run(VideoSource("r7", tmp_path / "cut.mp4"))


def test_slow_consumer_gets_newest_frames_and_drops_are_counted(clips):
    src = VideoSource("r9", clips["a.flv"], sample_fps=None, realtime=True)
    stop = threading.Event()
    got = []
    for f in src.frames(stop):
        got.append(f)
        time.sleep(0.25)  # a consumer far slower than 25 fps
        if f.stream_time > 1.0:
            stop.set()
    h = src.health_snapshot()
    assert h.drops > 10 and len(got) < 12
    assert got[-1].wall_time - got[-1].stream_time - (got[0].wall_time - got[0].stream_time) < 0.6
    # offline (fast) reading waits for the consumer instead: nothing is lost, not even the last frames
    src = VideoSource("r9", clips["a.flv"], sample_fps=None)
    slow = []
    for f in src.frames(threading.Event()):
        slow.append(f.index)
        time.sleep(0.01)
    assert slow == list(range(2 * FPS)) and src.health_snapshot().drops == 0


def _serve(handler) -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def loop() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv, srv.getsockname()[1]


def test_garbage_stream_is_retried_with_backoff():
    def garbage(conn: socket.socket) -> None:
        with conn:
            try:
                conn.sendall(np.random.default_rng().integers(0, 255, 5000, dtype=np.uint8).tobytes())
                time.sleep(0.2)
            except OSError:
                pass

    srv, port = _serve(garbage)
    try:
        src = VideoSource("r10", f"rtmp://user:secret@127.0.0.1:{port}/live/x", open_timeout=2.0,
                          read_timeout=1.0, max_backoff=1.0)
        stop = threading.Event()
        threading.Timer(2.5, stop.set).start()
        assert _run(src, stop) == []
        h = src.health_snapshot()
        assert h.reconnects >= 2 and h.last_error and "secret" not in h.last_error
        assert h.state == "stopped"
        # without reconnect a network failure is a SourceError
        with pytest.raises(SourceError, match="room r11"):
            _run(VideoSource("r11", f"rtmp://127.0.0.1:{port}/live/x", reconnect=False, open_timeout=2.0))
    finally:
        srv.close()


def test_silent_server_cannot_hang_the_source():
    """A TCP peer that accepts and never speaks: stop still ends the iterator at once."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    try:
        src = VideoSource("r8", f"rtmp://127.0.0.1:{port}/live/x", open_timeout=5.0, read_timeout=1.0)
        stop = threading.Event()
        threading.Timer(0.6, stop.set).start()
        t0 = time.monotonic()
        assert _run(src, stop) == []
        assert time.monotonic() - t0 < 1.0
        assert src.join(6.0)  # the reader thread itself gives up within the open timeout
    finally:
        srv.close()


# -- real RTMP ingest -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    if not RTMP_OK:
        pytest.skip(f"nginx-rtmp not available: {RTMP_WHY}")
    with RtmpServer() as s:
        yield s


def _wait(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


class _Reader:
    """Runs a VideoSource in a thread, keeps its frames."""

    def __init__(self, src: VideoSource) -> None:
        self.src, self.stop, self.frames, self.error = src, threading.Event(), [], None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for f in self.src.frames(self.stop):
                self.frames.append(f)
        except Exception as exc:  # surfaced by the test
            self.error = exc

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2.0)
        assert not self.thread.is_alive()


@pytest.mark.rtmp
@rtmp
def test_rtmp_server_lifecycle_leaves_nothing_behind():
    s = RtmpServer().start()
    proc, prefix = s._proc, s._dir
    assert s.running and s.url("x").startswith(f"rtmp://127.0.0.1:{s.port}/live/")
    s.stop()
    assert proc.poll() is not None and not prefix.exists()
    with pytest.raises(ZeroDivisionError), RtmpServer() as s2:
        proc2 = s2._proc
        1 / 0
    assert proc2.poll() is not None


@pytest.mark.rtmp
@rtmp
def test_rtmp_server_error_log_outlives_its_folder():
    """Failure messages read the log after the `with` block has removed the server's folder."""
    with RtmpServer(log_level="notice") as s:
        prefix = s._dir
    assert not prefix.exists() and "nginx/" in s.error_log


@pytest.mark.rtmp
@rtmp
def test_rtmp_ingest_two_rooms_and_reconnect(server, clips):
    pub_a, stop_a = start_publisher(clips["a.flv"], server.url("room-a"), loop=True)
    pub_b, stop_b = start_publisher(clips["b.flv"], server.url("room-b"), loop=True)
    time.sleep(0.3)
    ra = _Reader(VideoSource("room-a", server.url("room-a"), sample_fps=5.0, read_timeout=2.0))
    rb = _Reader(VideoSource("room-b", server.url("room-b"), sample_fps=5.0, read_timeout=2.0))
    try:
        assert _wait(lambda: len(ra.frames) >= 10 and len(rb.frames) >= 10, 6.0), server.error_log
        for r in (ra, rb):
            h = r.src.health_snapshot()
            assert h.state == "live"
            assert 15 < h.fps_in < 35, h  # 25 fps stream
            assert 3 < h.fps_sampled < 7, h
            assert abs(h.lag_s) < 0.5, h
            times = [f.stream_time for f in r.frames]
            assert all(b > a for a, b in zip(times, times[1:]))
        # room a's publisher dies: a goes reconnecting, b keeps delivering
        stop_a.set()
        pub_a.join(2.0)
        assert _wait(lambda: ra.src.health.state == "reconnecting", 4.0), ra.src.health
        nb = len(rb.frames)
        time.sleep(1.0)
        assert len(rb.frames) >= nb + 3 and rb.src.health.state == "live"
        # publishing resumes: a is live again, its stream clock keeps increasing
        na, last_a = len(ra.frames), ra.frames[-1].stream_time
        pub_a, stop_a = start_publisher(clips["a.flv"], server.url("room-a"), loop=True)
        assert _wait(lambda: len(ra.frames) >= na + 5, 8.0), (ra.src.health, server.error_log)
        h = ra.src.health_snapshot()
        assert h.state == "live" and h.reconnects >= 1
        assert ra.frames[na].stream_time > last_a
        assert ra.error is None and rb.error is None
    finally:
        stop_a.set()
        stop_b.set()
        ra.close()
        rb.close()


@pytest.mark.rtmp
@rtmp
def test_rtmp_frame_latency(server):
    """A frame pushed with FramePublisher comes out of VideoSource quickly (localhost)."""
    url = server.url("lat")
    pub = FramePublisher(url, fps=25)
    h, w = 240, 320

    def marked(i: int) -> np.ndarray:
        img = np.full((h, w, 3), 80, np.uint8)
        for b in range(8):
            img[:20, b * 40:(b + 1) * 40] = 255 if (i >> b) & 1 else 0
        img[40:, (i * 5) % w:(i * 5) % w + 10] = 200
        return img

    def read(img: np.ndarray) -> int:
        return sum(1 << b for b in range(8) if img[4:16, b * 40 + 8:b * 40 + 32].mean() > 128)

    sent: dict[int, float] = {}
    stop = threading.Event()

    def push() -> None:
        t0 = time.monotonic()
        i = 0
        while not stop.is_set() and i < 255:
            sent[i] = pub.send(marked(i))
            i += 1
            time.sleep(max(0.0, t0 + i / 25 - time.monotonic()))

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    reader = _Reader(VideoSource("lat", url, sample_fps=None, read_timeout=2.0))
    try:
        assert _wait(lambda: len(reader.frames) >= 40, 8.0), (reader.src.health, server.error_log)
    finally:
        reader.close()
        stop.set()
        pusher.join(2.0)
        pub.close()
    lat = [f.wall_time - sent[read(f.image)] for f in reader.frames[10:] if read(f.image) in sent]
    assert len(lat) > 20
    assert np.median(lat) < 0.25, np.median(lat)
