"""Registered recordings' keyframes by local features: the stolen pictures a frame hash cannot see.

PDQ compares whole pictures: moved by 1% of its width a frame lands ~30 bits away, so a restream cropped by
10%, framed by a banner or shrunk into a picture-in-picture over the thief's own camera is out of its
reach (measured on the video dev clips: 65-122 bits). Local features survive all three: each keyframe of a
registered recording (one a second, and its mirror image) is described by ORB keypoints; a room's frame is
described the same way, its descriptors find their nearest keyframe descriptors (faiss, Hamming), votes
pick the likeliest keyframes, and a match counts only when one similarity transform (scale, rotation,
shift: what a restream does to a picture) explains enough of them (RANSAC) over a fair part of the keyframe.

This tier is for recordings (hours, not the 10 M hashes of the frame-hash bank): one keyframe holds ~300
descriptors of 32 bytes, so an hour of registered recording is ~2 M descriptors, ~70 MB with its points.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import faiss
import numpy as np

SIZE = 480  # px: long side of a keyframe and of a room's frame when described
REF_FEATURES = 400
QUERY_FEATURES = 900  # more for a room's frame: the thief's own camera and banner take some
MAX_HAMMING = 56  # of 256 bits: farther neighbours are not the same keypoint
NEIGHBOURS = 4  # near-identical keyframes a second apart each get their vote
CANDIDATES = 3  # keyframes verified per frame (the most voted)
MIN_INLIERS = 20  # chosen on video dev restreams (no unregistered restream reached 12)
MIN_SPAN = 0.15  # the inliers' hull covers this share of the keyframe (not one small patch of it)
SCALES = (0.35, 3.0)  # a restream shows the picture at this scale of the keyframe, or it is not one
MAX_ROTATION_DEG = 10.0


@dataclass(frozen=True)
class KeyframeMatch:
    broadcast: str
    time: float  # the keyframe's time in the recording
    mirrored: bool
    inliers: int
    scale: float


def _gray(image: np.ndarray) -> np.ndarray:
    """Grey, long side SIZE: keyframes and rooms' frames are described at one scale."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    f = SIZE / max(gray.shape)
    return cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)


def _orb(n: int) -> cv2.ORB:
    return cv2.ORB_create(nfeatures=n, scaleFactor=1.2, nlevels=8, edgeThreshold=15, patchSize=31, fastThreshold=10)


def describe(image: np.ndarray, features: int = REF_FEATURES) -> tuple[np.ndarray, np.ndarray, float]:
    """ORB points (working px), descriptors (n, 32) and the working area of a BGR picture."""
    gray = _gray(image)
    kps, d = _orb(features).detectAndCompute(gray, None)
    if d is None:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), float(gray.size)
    return np.float32([k.pt for k in kps]), d, float(gray.size)


def describe_keyframe(image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """A keyframe as it is and mirrored (ORB is not mirror invariant; a thief's flip is common)."""
    return [describe(image), describe(np.ascontiguousarray(image[:, ::-1]))]


class KeyframeBank:
    """Keyframes of registered recordings, searched by their ORB descriptors."""

    def __init__(self) -> None:
        self._index = faiss.IndexBinaryFlat(256)
        self._owner: list[np.ndarray] = []  # descriptor -> keyframe
        self._points: list[np.ndarray] = []
        self.keyframes: list[tuple[str, float, bool, float]] = []  # (broadcast, time, mirrored, area)
        self._lock = threading.Lock()
        self._joined: tuple[np.ndarray, np.ndarray] | None = None  # owners and points, joined on first lookup

    def __len__(self) -> int:
        return len(self.keyframes)

    def add(self, broadcast: str, time: float, mirrored: bool, points: np.ndarray, descriptors: np.ndarray,
            area: float) -> None:
        if len(descriptors) < MIN_INLIERS:
            return  # a flat or dark keyframe: nothing to recognise it by
        with self._lock:
            k = len(self.keyframes)
            self.keyframes.append((broadcast, float(time), mirrored, area))
            self._index.add(np.ascontiguousarray(descriptors, np.uint8))
            self._owner.append(np.full(len(descriptors), k, np.int32))
            self._points.append(points.astype(np.float32))
            self._joined = None

    def lookup(self, image: np.ndarray) -> KeyframeMatch | None:
        """The registered keyframe a room's frame shows (its best verified candidate), if any."""
        if not self.keyframes:
            return None
        qpts, qdesc, _ = describe(image, QUERY_FEATURES)
        if len(qdesc) < MIN_INLIERS:
            return None
        with self._lock:
            dist, idx = self._index.search(qdesc, NEIGHBOURS)
            if self._joined is None:
                self._joined = (np.concatenate(self._owner), np.concatenate(self._points))
            owner, points = self._joined
        ok = (idx >= 0) & (dist <= MAX_HAMMING)
        q, j = np.nonzero(ok)
        if len(q) < MIN_INLIERS:
            return None
        train = idx[q, j]
        frames = owner[train]
        # one vote per (query keypoint, keyframe): its nearest descriptor there (rows are sorted by distance)
        _, first = np.unique(q.astype(np.int64) * len(self.keyframes) + frames, return_index=True)
        q, train, frames = q[first], train[first], frames[first]
        votes = np.bincount(frames, minlength=len(self.keyframes))
        best = None
        for k in np.argsort(-votes)[:CANDIDATES]:
            if votes[k] < MIN_INLIERS:
                break
            sel = frames == k
            found = self._verify(int(k), points[train[sel]], qpts[q[sel]])
            if found is not None and (best is None or found.inliers > best.inliers):
                best = found
        return best

    def _verify(self, k: int, ref: np.ndarray, query: np.ndarray) -> KeyframeMatch | None:
        m, mask = cv2.estimateAffinePartial2D(ref, query, method=cv2.RANSAC, ransacReprojThreshold=4.0,
                                              maxIters=1000, confidence=0.99)
        if m is None:
            return None
        inl = mask.ravel().astype(bool)
        n = min(len(np.unique(ref[inl], axis=0)), len(np.unique(query[inl], axis=0)))
        scale = float(np.hypot(m[0, 0], m[1, 0]))
        rotation = abs(np.degrees(np.arctan2(m[1, 0], m[0, 0])))
        broadcast, time, mirrored, area = self.keyframes[k]
        if n < MIN_INLIERS or not SCALES[0] <= scale <= SCALES[1] or rotation > MAX_ROTATION_DEG:
            return None
        if cv2.contourArea(cv2.convexHull(ref[inl].reshape(-1, 1, 2))) < MIN_SPAN * area:
            return None
        return KeyframeMatch(broadcast, time, mirrored, n, round(scale, 3))
