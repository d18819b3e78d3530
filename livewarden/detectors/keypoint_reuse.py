"""Between frames of one room, search only where the picture changed.

A live-selling room is mostly a fixed camera on a still set: most keypoints of a frame sit on the same
background as half a second before, and their nearest reference features are the same. A room's tiles that
did not change since they were searched keep their keypoints and search results; feature extraction and the
nearest-neighbour search run only on crops around what changed. A full search every `refresh_s` of stream
time (and whenever much of the frame changed) bounds any drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

TILE = 32  # px of the working frame
CHANGE = 16  # grey difference (3x3 mean) anywhere in a tile that makes it changed; codec noise stays < 10


@dataclass
class Features:
    """Keypoints of a working frame with their reference neighbours (rows of the kNN search)."""

    pts: np.ndarray  # (n, 2) float32, working-frame px
    radius: np.ndarray  # (n,) float32: half the side of the patch the descriptor was computed on
    idx: np.ndarray  # (n, k) int32 neighbour ids
    dist: np.ndarray  # (n, k) float32 Hamming distances

    @staticmethod
    def empty(k: int) -> "Features":
        return Features(np.zeros((0, 2), np.float32), np.zeros(0, np.float32), np.zeros((0, k), np.int32),
                        np.zeros((0, k), np.float32))

    def take(self, keep: np.ndarray) -> "Features":
        return Features(self.pts[keep], self.radius[keep], self.idx[keep], self.dist[keep])

    @staticmethod
    def join(parts: list["Features"]) -> "Features":
        return Features(np.concatenate([p.pts for p in parts]), np.concatenate([p.radius for p in parts]),
                        np.concatenate([p.idx for p in parts]), np.concatenate([p.dist for p in parts]))

    def __len__(self) -> int:
        return len(self.pts)


class RoomKeypoints:
    """One room's searched picture and its features; owned by the room's MarksRoom (one frame at a time)."""

    def __init__(self, refresh_s: float = 4.0, max_changed: float = 0.5) -> None:
        self.refresh_s = refresh_s
        self.max_changed = max_changed  # beyond this share of tiles, a full search is as cheap
        self.gray: np.ndarray | None = None  # what each tile looked like when it was last searched
        self.features: Features | None = None
        self.full_at = -np.inf
        self.full_searches = 0
        self.partial_searches = 0

    def plan(self, gray: np.ndarray, t: float) -> tuple[np.ndarray | None, list[tuple[int, int, int, int]], Features | None]:
        """(tiles to redo, crops (x0, y0, x1, y1) around them, features carried over); (None, [], None) = full search."""
        h, w = gray.shape
        if (self.gray is None or self.gray.shape != gray.shape or self.features is None
                or t - self.full_at >= self.refresh_s or t < self.full_at):
            return None, [], None
        # The largest change in a tile, not the mean: a thin stroke of a logo may change and nothing else.
        gh, gw = -(-h // TILE), -(-w // TILE)
        diff = np.zeros((gh * TILE, gw * TILE), np.uint8)
        diff[:h, :w] = cv2.blur(cv2.absdiff(gray, self.gray), (3, 3))
        changed = (diff.reshape(gh, TILE, gw, TILE).max(axis=(1, 3)) > CHANGE).astype(np.uint8)
        if changed.mean() > self.max_changed:
            return None, [], None
        # Redo one tile around every change: keypoints there have patches reaching into it.
        redo = cv2.dilate(changed, np.ones((3, 3), np.uint8))
        carried = self.features.take(self._untouched(self.features, redo))
        crops = []
        n, _, stats, _ = cv2.connectedComponentsWithStats(redo, connectivity=8)
        for x, y, cw, ch, _area in stats[1:n]:
            crops.append((x * TILE, y * TILE, min(w, (x + cw) * TILE), min(h, (y + ch) * TILE)))
        return redo, crops, carried

    def keep(self, gray: np.ndarray, t: float, redo: np.ndarray | None, features: Features) -> None:
        """Remember the searched picture: the whole frame after a full search, else the redone tiles."""
        if redo is None:
            self.gray = gray.copy()
            self.full_at = t
            self.full_searches += 1
        else:
            h, w = gray.shape
            where = cv2.resize(redo, (redo.shape[1] * TILE, redo.shape[0] * TILE),
                               interpolation=cv2.INTER_NEAREST)[:h, :w].astype(bool)
            self.gray[where] = gray[where]
            self.partial_searches += 1
        self.features = features

    @staticmethod
    def _untouched(features: Features, redo: np.ndarray) -> np.ndarray:
        """Keypoints whose whole patch lies in tiles that are not redone."""
        if len(features) == 0:
            return np.zeros(0, bool)
        integral = cv2.integral(redo)  # (gh+1, gw+1), int32
        gh, gw = redo.shape
        x, y, r = features.pts[:, 0], features.pts[:, 1], features.radius
        x0 = np.clip(((x - r) // TILE).astype(int), 0, gw - 1)
        x1 = np.clip(((x + r) // TILE).astype(int), 0, gw - 1) + 1
        y0 = np.clip(((y - r) // TILE).astype(int), 0, gh - 1)
        y1 = np.clip(((y + r) // TILE).astype(int), 0, gh - 1) + 1
        touched = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
        return touched == 0


def in_tiles(pts: np.ndarray, tiles: np.ndarray) -> np.ndarray:
    """Which points lie in a marked tile."""
    gh, gw = tiles.shape
    tx = np.clip((pts[:, 0] // TILE).astype(int), 0, gw - 1)
    ty = np.clip((pts[:, 1] // TILE).astype(int), 0, gh - 1)
    return tiles[ty, tx].astype(bool)
