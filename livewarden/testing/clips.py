"""Write H.264 clips from numpy frames: sample rooms for the demo, tests and benchmarks.

The encoding matches what a live seller's encoder sends (yuv420p, no B-frames,
a keyframe every `gop_seconds`), so a clip can be pushed to RTMP by stream copy
(see `publish.publish_file`) and a late joiner gets a picture within one GOP.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".flv": "flv", ".mkv": "matroska", ".ts": "mpegts"}


def x264_options(fps: float, gop_seconds: float, *, crf: int, preset: str) -> dict[str, str]:
    """libx264 options for a live-like stream: zerolatency, no B-frames, fixed GOP."""
    gop = max(1, round(fps * gop_seconds))
    return {
        "preset": preset,
        "tune": "zerolatency",
        "crf": str(crf),
        "bf": "0",
        "g": str(gop),
        "keyint_min": str(gop),
        "sc_threshold": "0",  # keyframes exactly every GOP, not at scene cuts
    }


def write_clip(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: int,
    *,
    crf: int = 23,
    gop_seconds: float = 1.0,
    preset: str = "veryfast",
) -> int:
    """Encode BGR uint8 frames (all the same size) to `path`; the container follows the extension.

    Returns the number of frames written. Odd sizes are cropped to even (yuv420p needs it).
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unsupported clip extension {path.suffix!r} (use one of {sorted(_FORMATS)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with av.open(str(path), mode="w", format=fmt) as out:
        stream = None
        for image in frames:
            if stream is None:
                h, w = image.shape[:2]
                w, h = w - w % 2, h - h % 2
                stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001),
                                        options=x264_options(fps, gop_seconds, crf=crf, preset=preset))
                stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(image[: stream.height, : stream.width]), format="bgr24")
            frame.pts = count
            frame.time_base = Fraction(1, 1) / stream.codec_context.framerate
            out.mux(stream.encode(frame))
            count += 1
        if stream is not None:
            out.mux(stream.encode(None))
    if count == 0:
        path.unlink(missing_ok=True)
        raise ValueError("write_clip: no frames given")
    return count


def pattern_frames(n: int, *, size: tuple[int, int] = (320, 240), fps: int = 25,
                 label: str = "") -> Iterable[np.ndarray]:
    """A moving pattern with the frame number printed on it: every frame differs, decode is checkable."""
    import cv2

    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        img = np.empty((h, w, 3), np.uint8)
        img[..., 0] = ((xx + 4 * i) % 256).astype(np.uint8)
        img[..., 1] = ((yy + 2 * i) % 256).astype(np.uint8)
        img[..., 2] = ((xx + yy) // 2 % 256).astype(np.uint8)
        x = int((w - 40) * (0.5 + 0.5 * np.sin(i * 2 * np.pi / (2 * fps))))
        cv2.rectangle(img, (x, h // 3), (x + 40, h // 3 + 40), (255, 255, 255), -1)
        cv2.putText(img, f"{label}{i}", (8, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 3)
        yield img


def drifting_shapes(n: int, *, seed: int = 0, size: tuple[int, int] = (640, 360), fps: float = 10) -> Iterable[np.ndarray]:
    """A scene in constant motion that never repeats itself: big shapes drifting on random paths over a
    background whose light changes (what a camera on a busy room sees, for the loop and restream tests)."""
    import cv2

    w, h = size
    rng = np.random.default_rng(seed)
    shapes = [(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(-60, 60), rng.uniform(-40, 40),
               int(rng.uniform(h * 0.12, h * 0.3)), tuple(int(c) for c in rng.integers(0, 256, 3)))
              for _ in range(6)]
    turns = rng.uniform(0.05, 0.4, (6, 2))
    for i in range(n):
        t = i / fps
        img = np.empty((h, w, 3), np.uint8)
        img[:] = (int(110 + 60 * np.sin(t * 0.23 + seed)), int(110 + 60 * np.sin(t * 0.31 + 2 * seed)), 120)
        for k, (x, y, vx, vy, r, colour) in enumerate(shapes):
            cx = int(x + vx * t + 80 * np.sin(turns[k, 0] * t * 3)) % w
            cy = int(y + vy * t + 60 * np.sin(turns[k, 1] * t * 3)) % h
            cv2.circle(img, (cx, cy), r, colour, -1) if k % 2 else cv2.rectangle(img, (cx - r, cy - r // 2),
                                                                                  (cx + r, cy + r // 2), colour, -1)
        yield img


def sampled_frames(path: str | Path, fps: float = 2.0) -> list[tuple[float, np.ndarray]]:
    """(stream time, BGR frame) of a clip at `fps`, as the live sampler takes them (tests, benchmarks)."""
    out, due = [], 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base)
            if t + 1e-6 >= due:
                out.append((t, frame.to_ndarray(format="bgr24")))
                due += 1 / fps
    return out
