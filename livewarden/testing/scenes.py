"""Generated sample rooms: a host in a cluttered room who holds a product card up to the camera.

The demo, tests and benchmarks need streams where a mark appears at a known
time, without shipping anyone's trademark or a recording: everything here is
drawn from a seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np

from livewarden.assets.marks import generate_background, place_mark

SKIN = (120, 160, 215)
SHIRT = (150, 90, 40)


def product_card(mark: np.ndarray, border: float = 0.12) -> np.ndarray:
    """The mark printed on a white card, as on a box or a swing tag."""
    h, w = mark.shape[:2]
    b = int(round(max(h, w) * border))
    return cv2.copyMakeBorder(mark, b, b, b, b, cv2.BORDER_CONSTANT, value=(245, 245, 245))


def draw_host(image: np.ndarray, t: float) -> None:
    """A swaying host who talks (the mouth opens and closes), so frames keep changing."""
    h, w = image.shape[:2]
    cx = int(w * 0.5 + w * 0.02 * math.sin(t * 1.3))
    cy = int(h * 0.36 + h * 0.01 * math.sin(t * 2.1))
    r = int(h * 0.11)
    cv2.ellipse(image, (cx, int(h * 0.95)), (int(w * 0.17), int(h * 0.38)), 0, 180, 360, SHIRT, -1, cv2.LINE_AA)
    cv2.circle(image, (cx, cy), r, SKIN, -1, cv2.LINE_AA)
    cv2.circle(image, (cx - r // 3, cy - r // 5), r // 9, (40, 40, 40), -1, cv2.LINE_AA)
    cv2.circle(image, (cx + r // 3, cy - r // 5), r // 9, (40, 40, 40), -1, cv2.LINE_AA)
    mouth = max(2, int(r * 0.18 * (0.5 + 0.5 * math.sin(t * 9.0))))
    cv2.ellipse(image, (cx, cy + r // 2), (r // 3, mouth), 0, 0, 360, (60, 40, 120), -1, cv2.LINE_AA)


def room_frames(mark: np.ndarray | None, *, seconds: float, fps: int = 25, size: tuple[int, int] = (1280, 720),
                mark_on: tuple[float, float] = (3.0, 9.0), seed: int = 0, scale: float = 0.24,
                every: float | None = None) -> Iterator[np.ndarray]:
    """Frames of one room: the card with `mark` is held up between mark_on[0] and mark_on[1] seconds (of every
    `every` seconds: the host moves on, so a long clip never repeats itself)."""
    w, h = size
    background = generate_background(seed, w, h)
    card = product_card(mark) if mark is not None else None
    for i in range(int(round(seconds * fps))):
        t = i / fps
        image = background.copy()
        draw_host(image, t)
        into = t % every if every else t
        if card is not None and mark_on[0] <= into < mark_on[1]:
            image, _ = place_mark(image, card, center=(w * (0.74 + 0.02 * math.sin(t)), h * 0.55),
                                  scale=scale, angle_deg=8 * math.sin(t * 0.9), tilt=15 * math.sin(t * 0.6))
        yield image


def held_up(card: np.ndarray, angle: float = 0.0, seed: int = 9, frames: int = 4) -> Iterator[np.ndarray]:
    """First the empty scene (a background model's first look), then the host holds `card` (a real pack shot,
    a printed card) up, turning a little."""
    bg = generate_background(seed, 1280, 720)
    scene = bg.copy()
    draw_host(scene, 0.0)
    yield scene
    for k in range(1, frames):
        img = bg.copy()
        draw_host(img, k * 0.5)
        img, _ = place_mark(img, card, center=(880 + 10 * k, 380), scale=0.22, angle_deg=angle, tilt=8)
        yield img


def shown_large(portrait: np.ndarray, seed: int = 4, frames: int = 3) -> Iterator[np.ndarray]:
    """A room where a real portrait is shown large, as a face on camera would be."""
    bg = generate_background(seed, 1280, 720)
    for k in range(frames):
        img = bg.copy()
        draw_host(img, k * 0.5)
        img, _ = place_mark(img, portrait, center=(900, 360), scale=0.3, angle_deg=0, tilt=0)
        yield img
