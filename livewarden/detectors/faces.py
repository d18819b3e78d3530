"""Protected persons on camera: faces matched against the registry's reference photos.

Enrollment describes every reference photo once and insists on exactly one
face per photo (a photo with none, or with several, is rejected naming the
file: the wrong face in a gallery would accuse the wrong rooms). At run time
faces are located in every analysed frame, but a face that is tracked
(overlapping the same room's face in the previous frame) is described again
only every few seconds: the descriptor is the costly part. A new face is named at once; a known face's
new description is computed in the child process while the worker goes on with other rooms, and the
track keeps what it matched until the answer arrives. Only a match
closer than the dev-calibrated distance becomes a `face` signal.
Unknown faces leave nothing behind (privacy by default), and no descriptor is
ever put in a signal, a log or an alert: evidence is the box, the distance
and the name of the matching reference photo.
"""

from __future__ import annotations

import logging
import math
import zlib
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livewarden.config import FacesSettings
from livewarden.detectors.base import Detector, RoomDetector, tunables as base_tunables
from livewarden.detectors.confidence import calibrated
from livewarden.detectors.face_embedder import FaceEmbedder
from livewarden.detectors.geometry import box_polygon, grey_thumb, iou, thumb_change
from livewarden.detectors.index_cache import IndexCache, content, decode, fetch, for_settings, versions
from livewarden.detectors.table import kinds_of
from livewarden.model import Frame, Signal
from livewarden.registry.located import Problem, RegistryError

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = FacesSettings().model_dump(exclude={"enabled"})  # the values and why: config.py


@dataclass(frozen=True)
class _Ref:
    person: str
    photo: str
    path: str


@dataclass
class _Track:
    """A face followed across frames: only who it matched (or None), never its descriptor."""

    box: tuple[int, int, int, int]
    described_at: float
    ref: _Ref | None
    distance: float
    pending: Future | None = None  # a description on its way from the child process; ref/distance until then
    look: np.ndarray | None = None  # the box's 16x16 grey thumbnail when the face was last located there


def enroll(registry: Any, embedder: FaceEmbedder,
           cache: IndexCache | None = None) -> tuple[np.ndarray, list[_Ref]]:
    """Describe every reference photo; raise RegistryError naming each photo without exactly one face.

    With a cache, a photo described before (same bytes, same embedder) is not described again: its entry
    keeps the descriptor, or only how many faces it had, so a bad photo is still refused on every run.
    """
    vectors, refs, problems = [], [], []
    version = f"{embedder.version}; {versions(*embedder.packages)}"
    for i, person in enumerate(registry.persons):
        for j, photo in enumerate(person.photos):
            where = f"persons[{i}].photos[{j}] ({person.id})"
            try:
                data = content(photo)
                entry = fetch(cache, "faces", version, {"max_side": embedder.max_side}, data,
                              lambda: _describe_photo(embedder, data), Path(photo).name)
            except (OSError, _Unreadable):
                problems.append(Problem(str(photo), None, where, "cannot be read as an image"))
                continue
            faces = int(entry["faces"])
            if not faces:
                problems.append(Problem(str(photo), None, where, "no face found: use a clear, frontal photo"))
            elif faces > 1:
                problems.append(Problem(str(photo), None, where,
                                        f"{faces} faces found: use a photo with only {person.name}"))
            else:
                vectors.append(entry["descriptor"])
                refs.append(_Ref(person.id, Path(photo).name, str(photo)))
    if problems:
        raise RegistryError(problems)
    return (np.stack(vectors) if vectors else np.zeros((0, 128), np.float32)), refs


class _Unreadable(Exception):
    """A reference photo's bytes are not an image (never cached: refused again on every run)."""


def _describe_photo(embedder: FaceEmbedder, data: bytes) -> dict[str, np.ndarray]:
    """How many faces a photo shows and, when exactly one, its descriptor (others' faces are not kept)."""
    image = decode(data)
    if image is None:
        raise _Unreadable()
    faces = embedder.faces(image)
    descriptor = faces[0].descriptor if len(faces) == 1 else np.zeros(128, np.float32)
    return {"faces": np.array(len(faces)), "descriptor": descriptor}


class FacesDetector(Detector):
    name = "faces"
    kinds = kinds_of("faces")

    def __init__(self, gallery: np.ndarray, refs: list[_Ref], embedder: FaceEmbedder, **tunables: Any):
        unknown = set(tunables) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown faces setting(s): {', '.join(sorted(unknown))}")
        if not len(refs):
            raise ValueError("no protected person with a usable reference photo")
        self.settings = {**DEFAULTS, **tunables}
        self.gallery, self.refs, self.embedder = gallery, refs, embedder

    @classmethod
    def from_registry(cls, registry: Any, settings: Any = None, embedder: FaceEmbedder | None = None,
                      **tunables: Any) -> "FacesDetector":
        tunables = {**base_tunables(settings, "faces"), **tunables}
        embedder = embedder or FaceEmbedder(isolated=True)  # nothing loads until a frame shows a face
        gallery, refs = enroll(registry, embedder, for_settings(settings))
        return cls(gallery, refs, embedder, **tunables)

    def open_room(self, room_id: str) -> "FacesRoom":
        return FacesRoom(self, room_id)

    def warm(self) -> None:
        self.embedder.warm()

    def confidence(self, distance: float) -> float:
        return calibrated(distance, self.settings["match_distance"], self.settings["strong_distance"])

    def settle(self, track: _Track, wait: bool = False) -> None:
        """Take a finished description into the track: nearest reference, a match only under the threshold."""
        if track.pending is None or not (wait or track.pending.done()):
            return
        future, track.pending = track.pending, None
        try:
            descriptor = future.result()
        except Exception as exc:  # the child died: this face stays as it was; the next description retries
            log.warning("face description failed: %s", exc)
            return
        distances = np.linalg.norm(self.gallery - descriptor, axis=1)
        k = int(np.argmin(distances))
        track.distance = float(distances[k])
        track.ref = self.refs[k] if track.distance < self.settings["match_distance"] else None


class FacesRoom(RoomDetector):
    """One room: its tracked faces and when they were last located and last searched for in the whole frame."""

    def __init__(self, detector: FacesDetector, room_id: str):
        self.detector, self.settings = detector, detector.settings
        self.tracks: list[_Track] = []
        self.located_at: float | None = None
        self.searched_at: float | None = None  # last full-frame search
        # each room gets its own period (0.75x to 1.25x) so many rooms started together do not look in step
        self.period = self.settings["locate_every_s"] * (0.75 + 0.5 * (zlib.crc32(room_id.encode()) % 1000) / 1000)

    def close(self) -> None:
        for track in self.tracks:
            if track.pending is not None:
                track.pending.cancel()
        self.tracks = []

    def process(self, frame: Frame) -> list[Signal]:
        d, previous = self.detector, self.tracks
        if self.located_at is not None and 0 <= frame.stream_time - self.located_at < self.period \
                and not any(_changed(frame.image, track, self.settings["gone_change"]) for track in previous):
            for track in previous:
                d.settle(track)
            return self._signals(frame, previous)  # too soon to look again: the faces are where they were
        full = not previous or self.searched_at is None \
            or not 0 <= frame.stream_time - self.searched_at < self.settings["full_search_every_s"]
        tracks: list[_Track] = []
        for rgb, rect, box in (self._search(frame.image) if full else self._search_near(frame.image, previous)):
            if min(box[2] - box[0], box[3] - box[1]) < self.settings["min_face_px"]:
                continue
            track = max(previous, key=lambda tr: iou(tr.box, box), default=None)
            same = track is not None and iou(track.box, box) >= self.settings["track_iou"]
            fresh = same and 0 <= frame.stream_time - track.described_at < self.settings["redescribe_s"]
            if same:
                previous = [tr for tr in previous if tr is not track]  # one face per track
                track.box = box
            else:
                track = _Track(box, frame.stream_time, None, math.inf)
            if not fresh and track.pending is None:  # new, or due again: keeps what it matched meanwhile
                track.described_at = frame.stream_time
                track.pending = d.embedder.describe_later(rgb, rect)
            tracks.append(track)
        for track in tracks:
            track.look = _look(frame.image, track.box)
            d.settle(track, wait=math.isinf(track.distance))  # a new face is named now; a known one later
        self.tracks, self.located_at = tracks, frame.stream_time
        if full:
            self.searched_at = frame.stream_time
        return self._signals(frame, tracks)

    def _search(self, image: np.ndarray) -> list[tuple[np.ndarray, Any, tuple[int, int, int, int]]]:
        """Every face in the whole frame: [(working RGB image, dlib rect on it, box on the frame)]."""
        embedder = self.detector.embedder
        rgb, scale, located = embedder.locate(image, self.settings["locate_side"])
        return [(rgb, rect, embedder.box(rect, scale)) for rect, _score in located]

    def _search_near(self, image: np.ndarray,
                     tracks: list[_Track]) -> list[tuple[np.ndarray, Any, tuple[int, int, int, int]]]:
        """Faces in the regions around known faces only: a fraction of a full search's cost.

        A face that moved out of its region is lost until the next full search.
        """
        embedder = self.detector.embedder
        h, w = image.shape[:2]
        found = []
        for track in tracks:
            x0, y0, x1, y1 = track.box
            grow = self.settings["region_margin"] * (x1 - x0)
            rx0, ry0 = max(0, int(x0 - grow)), max(0, int(y0 - grow))
            rx1, ry1 = min(w, int(x1 + grow)), min(h, int(y1 + grow))
            region = image[ry0:ry1, rx0:rx1]
            if region.size == 0:
                continue
            side = max(region.shape[:2]) * min(1.0, self.settings["region_face_px"] / max(1, x1 - x0))
            rgb, scale, located = embedder.locate(region, int(side), upsample=False)
            for rect, _score in located:
                bx0, by0, bx1, by1 = embedder.box(rect, scale)
                found.append((rgb, rect, (bx0 + rx0, by0 + ry0, bx1 + rx0, by1 + ry0)))
        return found

    def _signals(self, frame: Frame, tracks: list[_Track]) -> list[Signal]:
        """One signal per protected person among the tracked faces (unknown faces give none)."""
        best: dict[str, Signal] = {}
        for track in tracks:
            if track.ref is None:
                continue
            x0, y0, x1, y1 = track.box
            signal = Signal(room_id=frame.room_id, stream_time=frame.stream_time, kind="face",
                            subject=track.ref.person, confidence=self.detector.confidence(track.distance),
                            detector=self.detector.name, frame=frame,
                            evidence={"bbox": [x0, y0, x1, y1], "polygon": box_polygon(track.box),
                                      "distance": round(track.distance, 3), "ref": track.ref.photo,
                                      "reference_path": track.ref.path})
            if track.ref.person not in best or signal.confidence > best[track.ref.person].confidence:
                best[track.ref.person] = signal
        return list(best.values())


def _look(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    x0, y0, x1, y1 = box
    crop = image[max(0, y0):y1, max(0, x0):x1]
    return grey_thumb(crop) if crop.size else None


def _changed(image: np.ndarray, track: _Track, limit: float) -> bool:
    """Did the picture where the face was located change so much that it may be gone?"""
    now = _look(image, track.box)
    return track.look is None or now is None or thumb_change(now, track.look) > limit
