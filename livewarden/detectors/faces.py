"""Protected persons on camera: faces matched against the registry's reference photos.

Enrollment describes every reference photo once and insists on exactly one
face per photo (a photo with none, or with several, is rejected naming the
file: the wrong face in a gallery would accuse the wrong rooms). At run time
every face in a frame is described and compared with the gallery; only a
match closer than the dev-calibrated distance becomes a `face` signal.
Unknown faces leave nothing behind (privacy by default), and no descriptor is
ever put in a signal, a log or an alert: evidence is the box, the distance
and the name of the matching reference photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livewarden.detectors.base import Detector
from livewarden.detectors.face_embedder import FaceEmbedder
from livewarden.model import Frame, Signal
from livewarden.registry.located import Problem, RegistryError

# match_distance: benchmarks/faces_accuracy.py on ../shared/data/faces/dev (smallest
# impostor distance 0.649 minus a 0.02 margin; largest genuine distance there 0.608).
DEFAULTS: dict[str, Any] = {
    "match_distance": 0.629,  # confidence 0.5
    "strong_distance": 0.45,  # confidence 0.8
    "min_face_px": 40,  # smaller faces are too blurry to accuse anyone
}


@dataclass(frozen=True)
class _Ref:
    person: str
    photo: str


def enroll(registry: Any, embedder: FaceEmbedder) -> tuple[np.ndarray, list[_Ref]]:
    """Describe every reference photo; raise RegistryError naming each photo without exactly one face."""
    vectors, refs, problems = [], [], []
    for i, person in enumerate(registry.persons):
        for j, photo in enumerate(person.photos):
            where = f"persons[{i}].photos[{j}] ({person.id})"
            image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
            if image is None:
                problems.append(Problem(str(photo), None, where, "cannot be read as an image"))
                continue
            faces = embedder.faces(image)
            if not faces:
                problems.append(Problem(str(photo), None, where, "no face found: use a clear, frontal photo"))
            elif len(faces) > 1:
                problems.append(Problem(str(photo), None, where,
                                        f"{len(faces)} faces found: use a photo with only {person.name}"))
            else:
                vectors.append(faces[0].descriptor)
                refs.append(_Ref(person.id, Path(photo).name))
    if problems:
        raise RegistryError(problems)
    return (np.stack(vectors) if vectors else np.zeros((0, 128), np.float32)), refs


class FacesDetector(Detector):
    name = "faces"
    kind = "face"

    def __init__(self, gallery: np.ndarray, refs: list[_Ref], embedder: FaceEmbedder, **tunables: Any):
        unknown = set(tunables) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown faces setting(s): {', '.join(sorted(unknown))}")
        if not len(refs):
            raise ValueError("no protected person with a usable reference photo")
        self.settings = {**DEFAULTS, **tunables}
        self.gallery, self.refs, self.embedder = gallery, refs, embedder

    @classmethod
    def from_registry(cls, registry: Any, embedder: FaceEmbedder | None = None, **tunables: Any) -> "FacesDetector":
        embedder = embedder or FaceEmbedder()
        gallery, refs = enroll(registry, embedder)
        return cls(gallery, refs, embedder, **tunables)

    def confidence(self, distance: float) -> float:
        """0.5 at `match_distance`, 0.8 at `strong_distance`, logistic in between and beyond."""
        lo, hi = self.settings["match_distance"], self.settings["strong_distance"]
        slope = math.log(4.0) / max(1e-6, lo - hi)
        return 1.0 / (1.0 + math.exp(-slope * (lo - distance)))

    def detect(self, frame: Frame) -> list[Signal]:
        best: dict[str, Signal] = {}
        for face in self.embedder.faces(frame.image):
            x0, y0, x1, y1 = face.box
            if min(x1 - x0, y1 - y0) < self.settings["min_face_px"]:
                continue
            distances = np.linalg.norm(self.gallery - face.descriptor, axis=1)
            k = int(np.argmin(distances))
            d = float(distances[k])
            if d >= self.settings["match_distance"]:
                continue  # an unknown face: nothing is kept
            ref = self.refs[k]
            signal = Signal(room_id=frame.room_id, stream_time=frame.stream_time, kind=self.kind, subject=ref.person,
                            confidence=self.confidence(d), detector=self.name, frame=frame,
                            evidence={"bbox": [x0, y0, x1, y1],
                                      "polygon": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
                                      "distance": round(d, 3), "ref": ref.photo})
            if ref.person not in best or signal.confidence > best[ref.person].confidence:
                best[ref.person] = signal
        return list(best.values())
