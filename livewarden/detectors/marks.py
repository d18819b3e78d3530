"""Brand marks (logos) on camera: local features + one shared index + RANSAC homography.

All reference marks are described once with binary local features and put
into one index; each frame is described once, matched against that index,
and the matches are grouped per reference. A reference counts as seen only
when a homography explains enough of its matches AND that homography maps
the reference outline to a plausible planar quad (convex, sane scale and
aspect, not tiny). That is what separates a real printed logo from texture
that happens to share a few descriptors.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livewarden.config import MarksSettings
from livewarden.detectors.base import Detector, RoomDetector, tunables as base_tunables
from livewarden.detectors.confidence import calibrated
from livewarden.detectors.index_cache import IndexCache, content, decode, fetch, for_settings, versions
from livewarden.detectors.keypoint_reuse import TILE, Features, RoomKeypoints, in_tiles
from livewarden.detectors.table import kinds_of
from livewarden.model import Frame, Signal

DEFAULTS: dict[str, Any] = MarksSettings().model_dump(exclude={"enabled"})  # the values and why: config.py
_CROP_MARGIN = 48  # px around a changed crop, so ORB's border cut and coarse pyramid levels still see its edges
_LSH_SEED = 20240611
FEATURES_VERSION = "orb references v1 (pad 32, scale 1.2, edge 19, patch 31, fast 12)"  # for the index cache


@dataclass(frozen=True)
class MarkMatch:
    """One brand found in one image: the best reference's outline and support."""

    brand: str
    confidence: float
    polygon: list[list[float]]  # 4 corners, image pixels
    inliers: int
    ref: str

    @property
    def bbox(self) -> list[float]:
        xs, ys = zip(*self.polygon)
        return [min(xs), min(ys), max(xs), max(ys)]


@dataclass(frozen=True)
class _Ref:
    brand: str
    name: str
    outline: np.ndarray  # 4x1x2 float32, corners of the mark's content in reference px
    area: float


def _content(image: np.ndarray | Path | str, brand: str) -> tuple[bytes, str]:
    """A reference's content (what its cache key is made of) and file name ("" for an array)."""
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or image.size == 0:
            raise ValueError(f"mark of brand {brand!r}: not an image array (shape {image.shape})")
        return content(image), ""
    try:
        return content(image), Path(image).name
    except OSError:
        raise ValueError(f"mark of brand {brand!r}: cannot read image file {image}") from None


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _content_outline(gray: np.ndarray) -> np.ndarray:
    """The box around what differs from the border colour: logo files often sit on a wide blank canvas."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ys, xs = np.nonzero(np.abs(gray.astype(np.int16) - int(np.median(border))) > 24)
    h, w = gray.shape
    if len(xs) == 0:
        x0, y0, x1, y1 = 0, 0, w, h
    else:
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    return np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]).reshape(-1, 1, 2)


class MarksDetector(Detector):
    """Finds registered brand marks in frames; one Signal per brand seen."""

    name = "marks"
    kinds = kinds_of("marks")

    def __init__(self, marks: Sequence[tuple[str, np.ndarray | Path | str]], *, strict: bool = True,
                 cache: IndexCache | None = None, **tunables: Any):
        """`strict=False` skips references with too few features (listed in `skipped`) instead of failing.

        With a `cache`, a reference described before (same content and ref_* settings) is not described again.
        """
        unknown = set(tunables) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown MarksDetector settings: {sorted(unknown)}")
        self.settings = {**DEFAULTS, **tunables}
        if not marks:
            raise ValueError("MarksDetector needs at least one reference mark")
        s = self.settings

        self.skipped: list[str] = []
        refs: list[_Ref] = []
        descs: list[np.ndarray] = []
        points: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        version = f"{FEATURES_VERSION}; {versions('opencv-python-headless')}"
        affects = {k: s[k] for k in ("ref_size", "ref_features", "ref_levels")}
        for i, (brand, image) in enumerate(marks):
            data, fname = _content(image, brand)
            found = fetch(cache, "marks", version, affects, data, lambda: self._describe(image, data, brand), fname)
            n = len(found["points"])
            if n < s["min_inliers"] * 2:
                where = f"mark of brand {brand!r}" + (f" ({fname})" if fname else f" (#{i})")
                problem = f"{where}: only {n} features, too few to recognise it"
                if strict:
                    raise ValueError(problem)
                self.skipped.append(problem)
                continue
            outline = found["outline"]
            refs.append(_Ref(brand, fname or str(i), outline, float(cv2.contourArea(outline))))
            descs.append(found["descriptors"])
            points.append(found["points"])
            owners.append(np.full(n, len(refs) - 1, np.int32))

        if not refs:
            raise ValueError("no reference has enough features to be recognised: " + "; ".join(self.skipped))
        # Read-only after construction; every thread gets its own extractor and index (see _thread_tools).
        self._refs = refs
        self._descs = np.vstack(descs)
        self._points = np.vstack(points)
        self._owner = np.concatenate(owners)
        brand_ids = {b: i for i, b in enumerate(dict.fromkeys(r.brand for r in refs))}
        self._brand_of_desc = np.array([brand_ids[r.brand] for r in refs], np.int32)[self._owner]
        self._local = threading.local()

    @classmethod
    def from_registry(cls, registry: Any, settings: Any = None, **tunables: Any) -> MarksDetector:
        """Index every mark file of every brand in the registry."""
        tunables = {**base_tunables(settings, "marks"), **tunables}
        return cls([(b.id, Path(m)) for b in registry.brands for m in b.marks], cache=for_settings(settings),
                   **tunables)

    def open_room(self, room_id: str) -> "MarksRoom":
        return MarksRoom(self, RoomKeypoints(refresh_s=self.settings["refresh_s"]))

    def _describe(self, image: np.ndarray | Path | str, data: bytes, brand: str) -> dict[str, np.ndarray]:
        """One reference's features (what the index cache keeps): keypoints' points, descriptors, content outline."""
        s = self.settings
        img = image if isinstance(image, np.ndarray) else decode(data)
        if img is None:
            raise ValueError(f"mark of brand {brand!r}: cannot read image file {image}")
        gray = _gray(img)
        f = s["ref_size"] / max(gray.shape)
        gray = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
        # A margin so that keypoints near the mark's edge survive ORB's border cut.
        pad = 32
        border = int(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=border)
        # More pyramid levels than for frames: a 300 px reference must still match a 50 px mark.
        kps, d = self._orb(s["ref_features"], s["ref_levels"]).detectAndCompute(gray, None)
        if d is None:
            kps, d = (), np.zeros((0, 32), np.uint8)
        return {"points": np.float32([k.pt for k in kps]).reshape(-1, 2), "descriptors": d,
                "outline": _content_outline(gray)}

    @staticmethod
    def _orb(n: int, levels: int) -> cv2.ORB:
        return cv2.ORB_create(nfeatures=n, scaleFactor=1.2, nlevels=levels, edgeThreshold=19, patchSize=31, fastThreshold=12)

    def _thread_tools(self) -> tuple[cv2.ORB, cv2.flann_Index]:
        """This thread's feature extractor and LSH index over the shared descriptors.

        OpenCV feature and matcher objects hold mutable buffers, so threads do not
        share them; building the LSH tables costs a few ms once per thread, and the
        descriptor matrix itself is only ever read.
        """
        tools = getattr(self._local, "tools", None)
        if tools is None:
            s = self.settings
            lsh = {"algorithm": 6, "table_number": s["lsh_tables"], "key_size": s["lsh_key_bits"], "multi_probe_level": 1}
            # LSH picks its hash bits with the thread's OpenCV RNG: seed it so every
            # thread (and every run) builds the same tables and finds the same marks.
            cv2.setRNGSeed(_LSH_SEED)
            tools = self._local.tools = (self._orb(s["frame_features"], 8), cv2.flann_Index(self._descs, lsh))
        return tools

    def match_image(self, image_bgr: np.ndarray) -> list[MarkMatch]:
        """All brands found in one image, best first, polygons in the image's own pixels."""
        gray, f = self._working(image_bgr)
        return self._find(self._search(gray), f)

    def match_room_frame(self, keypoints: RoomKeypoints, image_bgr: np.ndarray, t: float) -> list[MarkMatch]:
        """As match_image, for the next frame of a live room: only what changed since it was searched is searched again."""
        gray, f = self._working(image_bgr)
        redo, crops, carried = keypoints.plan(gray, t)
        if carried is None:
            features = self._search(gray)
        else:
            features = Features.join([carried, *(self._search(gray, crop, redo) for crop in crops)])
        keypoints.keep(gray, t, redo, features)
        return self._find(features, f)

    def _working(self, image_bgr: np.ndarray) -> tuple[np.ndarray, float]:
        """The grey working copy of an image (long side at most frame_size) and its scale."""
        gray = _gray(image_bgr)
        f = min(1.0, self.settings["frame_size"] / max(gray.shape))  # enlarging small photos measured worse on dev
        if f < 1.0:
            gray = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR)
        return gray, f

    def _search(self, gray: np.ndarray, crop: tuple[int, int, int, int] | None = None,
                tiles: np.ndarray | None = None) -> Features:
        """Keypoints of the working frame, or of a crop of it (read with a margin for ORB's border cut) that lie
        in the given tiles, with their reference neighbours."""
        s = self.settings
        orb, index = self._thread_tools()
        h, w = gray.shape
        if crop is None:
            x0, y0, budget, sub = 0, 0, s["frame_features"], gray
        else:
            m = _CROP_MARGIN
            x0, y0, x1, y1 = max(0, crop[0] - m), max(0, crop[1] - m), min(w, crop[2] + m), min(h, crop[3] + m)
            sub = gray[y0:y1, x0:x1]
            # Twice as many keypoints per redone tile as a full search keeps on average.
            share = tiles[crop[1] // TILE:-(-crop[3] // TILE), crop[0] // TILE:-(-crop[2] // TILE)].sum() / tiles.size
            budget = max(50, round(s["frame_features"] * min(1.0, 2 * share)))  # x2: new content is where marks appear
        orb.setMaxFeatures(int(budget))
        kps, d = orb.detectAndCompute(sub, None)
        if d is None or not kps:
            return Features.empty(s["neighbours"])
        pts = np.float32([k.pt for k in kps]) + np.float32([x0, y0])
        radius = np.float32([k.size for k in kps]) * 0.71  # half the diagonal of the rotated patch
        if tiles is not None:  # the rest of the crop is carried over: searching it again would duplicate it
            inside = in_tiles(pts, tiles)
            pts, radius, d = pts[inside], radius[inside], d[inside]
            if not len(d):
                return Features.empty(s["neighbours"])
        idx, dist = index.knnSearch(d, s["neighbours"], params={"checks": 32})
        return Features(pts, radius, idx.astype(np.int32), dist.astype(np.float32))

    def _find(self, features: Features, f: float) -> list[MarkMatch]:
        """Brands supported by the features' neighbours, verified by a homography each."""
        s = self.settings
        if len(features) < s["min_inliers"]:
            return []
        qpts = features.pts
        qi, ti = self._filter(features.idx, features.dist)

        best: dict[str, MarkMatch] = {}
        owner = self._owner[ti]
        for r in np.unique(owner):
            sel = owner == r
            if sel.sum() < s["min_inliers"]:
                continue
            m = self._verify(self._refs[r], qpts[qi[sel]], self._points[ti[sel]], qi[sel], ti[sel], f)
            if m and (m.brand not in best or m.inliers > best[m.brand].inliers):
                best[m.brand] = m
        return sorted(best.values(), key=lambda m: -m.confidence)

    def _filter(self, idx: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keep (query, train) pairs that pass the ratio test against the nearest OTHER brand.

        Variants of one brand (black, colour) hold near-identical descriptors, so
        a plain ratio test would reject exactly the best matches; and every
        variant within the ratio keeps its own match so each gets full support.
        """
        s = self.settings
        n = len(self._owner)
        valid = (idx >= 0) & (idx < n)
        idx = np.where(valid, idx, 0)
        dist = np.where(valid, dist.astype(np.float32), np.inf)
        brand = self._brand_of_desc[idx]
        same = (brand == brand[:, :1]) & valid
        other = ~same & valid
        d_other = np.where(other.any(1), dist[np.arange(len(idx)), other.argmax(1)], np.inf)
        keep = same & (dist < s["ratio"] * d_other[:, None]) & (dist <= s["max_hamming"])
        q, k = np.nonzero(keep)
        t = idx[q, k]
        # One correspondence per (query keypoint, reference): the nearest, as np.nonzero is row-major by rank.
        _, first = np.unique(q * len(self._refs) + self._owner[t], return_index=True)
        return q[first], t[first]

    def _verify(
        self, ref: _Ref, qpts: np.ndarray, rpts: np.ndarray, qi: np.ndarray, ti: np.ndarray, f: float
    ) -> MarkMatch | None:
        """Fit a homography ref -> frame and accept it only if it maps the mark to a plausible quad."""
        s = self.settings
        h, mask = cv2.findHomography(rpts, qpts, cv2.USAC_MAGSAC, s["reproj_px"], maxIters=2000, confidence=0.995)
        if h is None:
            return None
        inl = mask.ravel().astype(bool)
        # Count distinct keypoints on both sides: many-to-one matches are not support.
        n = min(len(np.unique(qi[inl])), len(np.unique(ti[inl])))
        if n < s["min_inliers"]:
            return None
        quad = cv2.perspectiveTransform(ref.outline, h).reshape(4, 2)
        if not self._plausible(quad, ref):
            return None
        hull = cv2.convexHull(rpts[inl].reshape(-1, 1, 2))
        if cv2.contourArea(hull) < s["min_inlier_span"] * ref.area:
            return None
        quad = quad / f
        confidence = calibrated(n, s["min_inliers"], s["strong_inliers"])
        return MarkMatch(ref.brand, round(confidence, 4), quad.round(1).tolist(), n, ref.name)

    def _plausible(self, quad: np.ndarray, ref: _Ref) -> bool:
        s = self.settings
        if not np.all(np.isfinite(quad)):
            return False
        # Positive signed area in image coords (y down) keeps the corner order: no mirror images.
        x, y = quad[:, 0], quad[:, 1]
        signed = 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
        if signed < s["min_area_px"] or not cv2.isContourConvex(quad.astype(np.float32).reshape(-1, 1, 2)):
            return False
        sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
        if sides.min() <= 1 or max(sides[0] / sides[2], sides[2] / sides[0], sides[1] / sides[3], sides[3] / sides[1]) > s["max_side_ratio"]:
            return False
        o = ref.outline.reshape(4, 2)
        ref_aspect = np.linalg.norm(o[1] - o[0]) / np.linalg.norm(o[3] - o[0])
        aspect = (sides[0] + sides[2]) / (sides[1] + sides[3])
        change = aspect / ref_aspect
        return 1 / s["max_aspect_change"] <= change <= s["max_aspect_change"]


class MarksRoom(RoomDetector):
    """One room: its keypoint reuse (what was searched when, so only changed tiles are searched again)."""

    def __init__(self, detector: MarksDetector, keypoints: RoomKeypoints):
        self.detector, self.keypoints = detector, keypoints

    def process(self, frame: Frame) -> list[Signal]:
        return [
            Signal(
                room_id=frame.room_id,
                stream_time=frame.stream_time,
                kind="mark",
                subject=m.brand,
                confidence=m.confidence,
                detector=self.detector.name,
                evidence={"polygon": m.polygon, "bbox": [round(v, 1) for v in m.bbox], "inliers": m.inliers, "ref": m.ref},
                frame=frame,
            )
            for m in self.detector.match_room_frame(self.keypoints, frame.image, frame.stream_time)
        ]

    def close(self) -> None:
        self.keypoints = RoomKeypoints(refresh_s=self.keypoints.refresh_s)

    @property
    def searches(self) -> tuple[int, int]:
        """(full, partial) searches made for this room so far."""
        return self.keypoints.full_searches, self.keypoints.partial_searches
