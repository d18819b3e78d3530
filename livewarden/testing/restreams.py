"""What restreamers do to a stolen picture, one transformation at a time (tests and benchmarks).

Each `Restream` turns the original frames into what the thief's room sends: scaled, cropped, mirrored,
framed by a banner and a price sticker, inset as a picture-in-picture over the thief's own camera, sped up,
colour-shifted; the frames are then encoded at `crf` (a restream is always re-encoded, at a lower quality).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from livewarden.testing.clips import drifting_shapes

Frames = list[np.ndarray]


def short_side(frames: Frames, pixels: int) -> Frames:
    """Scaled so the shorter side is `pixels` (480p, 360p; a portrait clip keeps its orientation)."""
    h, w = frames[0].shape[:2]
    k = pixels / min(h, w)
    size = (round(w * k) // 2 * 2, round(h * k) // 2 * 2)
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]


def crop(frames: Frames, fraction: float = 0.10) -> Frames:
    """`fraction` of each side's length cut off, unevenly (60% of it left and top), scaled back up."""
    h, w = frames[0].shape[:2]
    left, top = int(w * fraction * 0.6), int(h * fraction * 0.6)
    right, bottom = w - int(w * fraction * 0.4), h - int(h * fraction * 0.4)
    return [cv2.resize(f[top:bottom, left:right], (w, h), interpolation=cv2.INTER_LINEAR) for f in frames]


def mirror(frames: Frames) -> Frames:
    return [np.ascontiguousarray(f[:, ::-1]) for f in frames]


def banner(frames: Frames, text: str = "SALE -70%  ORDER NOW") -> Frames:
    """A sale strip over the bottom 12% and a price sticker in the top right corner."""
    out = []
    for f in frames:
        f = f.copy()
        h, w = f.shape[:2]
        strip = int(h * 0.12)
        cv2.rectangle(f, (0, h - strip), (w, h), (20, 20, 200), -1)
        cv2.putText(f, text, (int(w * 0.03), h - strip // 3), cv2.FONT_HERSHEY_SIMPLEX, strip / 45, (255, 255, 255),
                    max(1, strip // 20))
        r = int(min(h, w) * 0.09)
        cv2.circle(f, (w - int(r * 1.4), int(r * 1.4)), r, (0, 215, 255), -1)
        cv2.putText(f, "$9", (w - int(r * 2.0), int(r * 1.6)), cv2.FONT_HERSHEY_SIMPLEX, r / 30, (0, 0, 0), 2)
        out.append(f)
    return out


def picture_in_picture(frames: Frames, scale: float = 0.7, seed: int = 0, fps: float = 10) -> Frames:
    """The stolen picture shrunk to `scale` of the frame's sides and inset, at a random place, over the
    thief's own camera (a busy scene that fills the rest of the frame)."""
    h, w = frames[0].shape[:2]
    sw, sh = int(w * scale), int(h * scale)
    rng = np.random.default_rng(seed)
    x, y = int(rng.integers(0, w - sw + 1)), int(rng.integers(0, h - sh + 1))
    own = drifting_shapes(len(frames), seed=seed + 100, size=(w, h), fps=fps)
    out = []
    for f, camera in zip(frames, own):
        camera[y:y + sh, x:x + sw] = cv2.resize(f, (sw, sh), interpolation=cv2.INTER_AREA)
        out.append(camera)
    return out


def sped_up(frames: Frames, factor: float = 1.08) -> Frames:
    """Played `factor` times faster at the same frame rate (frames dropped, as a speed-up filter does)."""
    n = int(len(frames) / factor)
    return [frames[min(len(frames) - 1, round(i * factor))] for i in range(n)]


def colour_shift(frames: Frames) -> Frames:
    """A warm beauty filter: hue turned, saturation and contrast up, brighter."""
    out = []
    for f in frames:
        hsv = cv2.cvtColor(f, cv2.COLOR_BGR2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + 8) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] * 1.25, 0, 255)
        hsv = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
        out.append(cv2.convertScaleAbs(hsv, alpha=1.15, beta=12))
    return out


@dataclass(frozen=True)
class Restream:
    name: str
    change: Callable[[Frames, int], Frames]  # (frames, seed) -> frames
    crf: int = 30


RESTREAMS = (
    Restream("re-encoded", lambda fs, s: fs, crf=34),
    Restream("480p", lambda fs, s: short_side(fs, 480)),
    Restream("360p", lambda fs, s: short_side(fs, 360)),
    Restream("crop 10%", lambda fs, s: crop(fs, 0.10)),
    Restream("mirrored", lambda fs, s: mirror(fs)),
    Restream("banner", lambda fs, s: banner(fs)),
    Restream("picture-in-picture", lambda fs, s: picture_in_picture(fs, (0.6, 0.7, 0.8)[s % 3], seed=s)),
    Restream("sped up 1.08x", lambda fs, s: sped_up(fs, 1.08)),
    Restream("colour-shifted", lambda fs, s: colour_shift(fs)),
    Restream("360p+mirror+banner", lambda fs, s: banner(mirror(short_side(fs, 360)))),
)


def restreamed(frames: Iterable[np.ndarray], name: str, seed: int = 0) -> tuple[Frames, int]:
    """The frames of the restream called `name` (one of RESTREAMS) and the crf to encode them at."""
    chosen = next((r for r in RESTREAMS if r.name == name), None)
    if chosen is None:
        raise ValueError(f"unknown restream {name!r} (one of {[r.name for r in RESTREAMS]})")
    return chosen.change(list(frames), seed), chosen.crf
