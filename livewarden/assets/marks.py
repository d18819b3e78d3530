"""Synthetic brand marks and scenes for the demo, tests and benchmarks.

Real trademarks may not be shipped, so we draw our own: each mark is bold text
plus random geometric shapes, deterministic per (text, seed), with enough
corners and contrast that local-feature matchers can tell marks apart.
`place_mark` puts a mark into a scene the way a camera would see it (scale,
rotation, perspective tilt, partial occlusion) and returns the true polygon.
"""

from __future__ import annotations

import zlib

import cv2
import numpy as np


def _rng(text: str, seed: int) -> np.random.Generator:
    # crc32, not hash(): str hashes are randomised per process.
    return np.random.default_rng([zlib.crc32(text.encode("utf-8")), seed])


def _color(rng: np.random.Generator, dark: bool) -> tuple[int, int, int]:
    lo, hi = (0, 90) if dark else (175, 256)
    return tuple(int(c) for c in rng.integers(lo, hi, size=3))


def generate_mark(text: str, seed: int, size: int = 400) -> np.ndarray:
    """Draw a distinctive, feature-rich logo (BGR uint8, size x size).

    A light badge with a dark border, a scatter of polygons, circles and stripes
    in contrasting colours, and the text in a heavy font across the middle.
    """
    rng = _rng(text, seed)
    img = np.full((size, size, 3), _color(rng, dark=False), np.uint8)
    s = size / 400.0

    for _ in range(int(rng.integers(14, 20))):
        kind = int(rng.integers(0, 4))
        color = _color(rng, dark=True)
        cx, cy = (int(v) for v in rng.integers(int(30 * s), size - int(30 * s), size=2))
        r = int(rng.integers(int(18 * s), int(60 * s)))
        if kind == 0:
            n = int(rng.integers(3, 7))
            ang = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, n, endpoint=False)
            radii = r * rng.uniform(0.5, 1.0, size=n)
            pts = np.stack([cx + radii * np.cos(ang), cy + radii * np.sin(ang)], 1).astype(np.int32)
            cv2.fillPoly(img, [pts], color, cv2.LINE_AA)
        elif kind == 1:
            cv2.circle(img, (cx, cy), r, color, -1, cv2.LINE_AA)
            cv2.circle(img, (cx, cy), max(2, r // 2), _color(rng, dark=False), -1, cv2.LINE_AA)
        elif kind == 2:
            star = [
                (cx + (r if i % 2 == 0 else r // 2) * np.cos(i * np.pi / 5), cy + (r if i % 2 == 0 else r // 2) * np.sin(i * np.pi / 5))
                for i in range(10)
            ]
            cv2.fillPoly(img, [np.array(star, np.int32)], color, cv2.LINE_AA)
        else:
            for k in range(int(rng.integers(2, 5))):
                y = cy + k * int(12 * s)
                cv2.line(img, (cx - r, y), (cx + r, y - int(rng.integers(-20, 20) * s)), color, max(2, int(6 * s)), cv2.LINE_AA)

    # The text on a contrasting band, fitted to ~85% of the width.
    font = int(rng.choice([cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX]))
    font |= cv2.FONT_ITALIC if rng.random() < 0.5 else 0
    thick = max(2, int(9 * s))
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, thick)
    fs = 0.85 * size / max(tw, 1)
    fs = min(fs, 0.22 * size / max(th, 1))
    thick = max(2, int(thick * min(fs, 3.0) / 2))
    (tw, th), base = cv2.getTextSize(text, font, fs, thick)
    y0 = int(size * rng.uniform(0.45, 0.6))
    band = _color(rng, dark=False)
    cv2.rectangle(img, (int(0.04 * size), y0 - th - int(12 * s)), (int(0.96 * size), y0 + base + int(6 * s)), band, -1)
    cv2.putText(img, text, ((size - tw) // 2, y0), font, fs, _color(rng, dark=True), thick, cv2.LINE_AA)

    bw = max(3, int(10 * s))
    cv2.rectangle(img, (bw // 2, bw // 2), (size - 1 - bw // 2, size - 1 - bw // 2), _color(rng, dark=True), bw)
    return img


def generate_background(seed: int, width: int = 1280, height: int = 720) -> np.ndarray:
    """A busy, logo-free scene: smooth colour gradients, random clutter and sensor noise.

    Stands in for a shop counter or a living room so that negatives have texture
    (many keypoints) rather than a blank wall.
    """
    rng = np.random.default_rng([0xB6, seed])
    small = rng.integers(40, 220, size=(6, 10, 3)).astype(np.uint8)
    img = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(60):
        color = tuple(int(c) for c in rng.integers(0, 256, size=3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(10, 120))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + r, y + int(rng.integers(10, 120))), color, int(rng.choice([-1, 3])))
        else:
            cv2.ellipse(img, (x, y), (r, int(rng.integers(5, 80))), float(rng.uniform(0, 180)), 0, 360, color, -1, cv2.LINE_AA)
    noise = rng.normal(0, 8, img.shape)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def _tilted_corners(w: float, h: float, angle_deg: float, tilt: float) -> np.ndarray:
    """Corners of a w x h plane rotated in-plane by `angle_deg` and tilted back by `tilt` degrees, seen by a pinhole camera."""
    f = 2.0 * max(w, h)
    pts = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]], float)
    t = np.radians(tilt)
    rx = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    a = np.radians(angle_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    p = pts @ rx.T @ rz.T
    z = p[:, 2] + f
    return np.stack([p[:, 0] * f / z, p[:, 1] * f / z], 1)


def place_mark(
    background: np.ndarray,
    mark: np.ndarray,
    *,
    center: tuple[float, float],
    scale: float,
    angle_deg: float = 0.0,
    tilt: float = 0.0,
    occlusion: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Composite `mark` into a copy of `background`; return (image, true 4x2 polygon in image pixels).

    `scale` is the mark's width as a fraction of the background width, `angle_deg`
    an in-plane rotation, `tilt` an out-of-plane rotation in degrees (0 = facing the
    camera), and `occlusion` the fraction of the mark's width hidden behind a plain
    occluder on its right side (a hand, a product). The polygon is the whole
    mark's outline, occluded part included, corners in the mark's TL, TR, BR, BL order.
    """
    mh, mw = mark.shape[:2]
    bh, bw = background.shape[:2]
    out_w = scale * bw
    src = np.array([[0, 0], [mw, 0], [mw, mh], [0, mh]], np.float32)
    dst = _tilted_corners(out_w, out_w * mh / mw, angle_deg, tilt) + np.asarray(center, float)
    dst = dst.astype(np.float32)
    h = cv2.getPerspectiveTransform(src, dst)

    mark = mark.copy()
    if occlusion > 0:
        x0 = int(round(mw * (1.0 - occlusion)))
        mark[:, x0:] = (92, 128, 186)  # a skin-ish plain occluder

    warped = cv2.warpPerspective(mark, h, (bw, bh), flags=cv2.INTER_AREA if scale * bw < mw else cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((mh, mw), 255, np.uint8), h, (bw, bh))
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    image = (warped * alpha + background * (1.0 - alpha)).astype(np.uint8)
    return image, dst
