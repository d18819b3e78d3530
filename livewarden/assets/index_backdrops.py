"""Backdrops for the products index's held-up views, and ONLY for them.

`ProductIndex` embeds every catalog pack shot a second and third time pasted on
a backdrop (`products.held_views`), because crops from a room never sit on
white. If those backdrops came from the generator the tests, the demo and the
benchmarks draw their rooms with (`marks.generate_background`, used by
`scenes.room_frames`), the index would have seen the tests' own clutter and the
tests would flatter the detector. So this is a different procedure on purpose,
with other statistics: an out-of-focus room (smooth low-contrast colour
blotches, a few soft straight edges of furniture and shelves, a little fine
grain) instead of sharp saturated rectangles and ellipses on a gradient.

Do not draw test or demo rooms with it. Cheap (a few ms) and deterministic:
a fixed numpy generator per view number, no state, nothing random per run.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


@lru_cache(maxsize=8)
def index_backdrop(view: int, width: int = 640, height: int = 360) -> np.ndarray:
    """An out-of-focus room behind a held-up product (BGR uint8, read-only), the same for the same arguments."""
    rng = np.random.default_rng([0x1DB, view])
    # a muted palette: each colour pulled towards its grey, as walls, wood and fabric are
    palette = rng.integers(30, 230, size=(5, 3)).astype(np.float32)
    palette = 0.45 * palette + 0.55 * palette.mean(1, keepdims=True)
    # value noise over three octaves picks, per pixel, a blend of the palette's colours
    weights = np.zeros((height, width, len(palette)), np.float32)
    for cells, amp in ((3, 1.0), (7, 0.5), (17, 0.25)):
        grid = rng.random((cells, max(2, round(cells * width / height)), len(palette))).astype(np.float32)
        weights += amp * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    weights = np.exp(4.0 * weights)
    img = (weights / weights.sum(2, keepdims=True)) @ palette
    # long straight edges: shelf boards, a door frame, a table edge
    for _ in range(int(rng.integers(4, 8))):
        angle = rng.choice([0.0, 90.0]) + rng.normal(0, 4)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        dx, dy = np.cos(np.radians(angle)) * 2 * width, np.sin(np.radians(angle)) * 2 * width
        shade = float(rng.uniform(-60, 60))
        color = tuple(float(np.clip(c + shade, 0, 255)) for c in palette[int(rng.integers(len(palette)))])
        cv2.line(img, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), color,
                 int(rng.integers(3, 18)), cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), sigmaX=float(rng.uniform(2.5, 4.0)))  # the room is behind the focus
    grain = rng.normal(0, 3, img.shape).astype(np.float32)
    out = np.clip(img + grain, 0, 255).astype(np.uint8)
    out.flags.writeable = False
    return out
