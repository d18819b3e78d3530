"""Face verification and open-set identification on real photos (../shared/data/faces).

    python benchmarks/faces_accuracy.py [--data DIR]

Every labelled photo with exactly one detected face is described once (dlib
HOG detector + 5 landmarks + 128-d ResNet descriptor).
- Verification: all eval pairs of such photos; TAR at FAR 1e-3 and 1e-2
  (thresholds read off eval's impostor distances: a curve point, not tuning).
- Open-set identification: gallery = up to two dev photos per person; probes =
  eval photos of enrolled persons, of people not enrolled, and of no face.
  The operating threshold is chosen on dev (leave-one-out: the largest
  distance at which no dev impostor is accepted, with a 0.02 margin) and
  applied to eval. Goal: TAR >= 0.97 at FAR 1e-3; no non-enrolled probe
  matched at the operating threshold.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reference_data import load_labels  # noqa: E402

from livewarden.detectors.face_embedder import FaceEmbedder  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data")
    args = ap.parse_args()
    root, labels = load_labels("faces", args.data)
    if labels is None:
        print(f"skipped: data not found at {root}")
        return 0
    emb = FaceEmbedder()
    desc: dict[str, np.ndarray] = {}
    found_none: dict[str, bool] = {}
    t = time.perf_counter()
    for rel, lab in sorted(labels.items()):
        if lab.get("multi_face") or lab.get("uncertain"):
            continue
        img = cv2.imread(str(root / rel), cv2.IMREAD_UNCHANGED)
        if img is None:
            continue
        faces = emb.faces(img)
        found_none[rel] = not faces
        if len(faces) == 1 and lab.get("person"):
            desc[rel] = faces[0].descriptor
    n = len(found_none)
    print(f"{n} photos read, {1000 * (time.perf_counter() - t) / max(1, n):.0f} ms/photo; "
          f"{len(desc)} labelled photos with exactly one face")
    missed = [r for r, none in found_none.items() if none and not labels[r]["no_face"]]
    false_faces = [r for r, none in found_none.items() if not none and labels[r]["no_face"]]
    print(f"  detector: {len(missed)} photos with a face where none was found, "
          f"{len(false_faces)} no-face photos with a face found")

    def pairs(split: str) -> tuple[np.ndarray, np.ndarray]:
        keys = [k for k in desc if k.startswith(f"{split}/")]
        gen, imp = [], []
        for a, b in itertools.combinations(keys, 2):
            d = float(np.linalg.norm(desc[a] - desc[b]))
            (gen if labels[a]["person"] == labels[b]["person"] else imp).append(d)
        return np.array(gen), np.array(imp)

    gen, imp = pairs("eval")
    print(f"\nverification on eval: {len(gen)} genuine, {len(imp)} impostor pairs")
    for far in (1e-3, 1e-2):
        thr = float(np.quantile(imp, far))
        print(f"  TAR at FAR {far:g}: {np.mean(gen < thr):.3f} (distance < {thr:.3f})")
    print(f"  at dlib's 0.6: TAR {np.mean(gen < 0.6):.3f}, FAR {np.mean(imp < 0.6):.4f}")

    # open set: gallery from dev; threshold from dev in the same open-set protocol (leave one person out)
    dev = [k for k in desc if k.startswith("dev/")]
    gallery: dict[str, list[np.ndarray]] = {}
    for k in sorted(dev):
        gallery.setdefault(labels[k]["person"], [])
        if len(gallery[labels[k]["person"]]) < 2:
            gallery[labels[k]["person"]].append(desc[k])
    threshold, worst_right, nearest_stranger = dev_open_set_threshold(
        {k: (labels[k]["person"], desc[k]) for k in dev})
    print(f"\nopen-set identification: gallery {sum(map(len, gallery.values()))} photos of {len(gallery)} persons "
          f"(dev); threshold {threshold:.3f} = middle of the dev gap (leave one person out: largest distance of a "
          f"right match {worst_right:.3f}, smallest distance of a non-enrolled probe {nearest_stranger:.3f})")

    def identify(d: np.ndarray) -> tuple[str | None, float]:
        best = min(((p, float(np.linalg.norm(d - g))) for p, gs in gallery.items() for g in gs), key=lambda x: x[1])
        return (best[0], best[1]) if best[1] < threshold else (None, best[1])

    enrolled = right = wrong = strangers = strangers_matched = 0
    for k, d in desc.items():
        if not k.startswith("eval/"):
            continue
        who, _ = identify(d)
        if labels[k]["person"] in gallery:
            enrolled += 1
            right += who == labels[k]["person"]
            wrong += who is not None and who != labels[k]["person"]
        else:
            strangers += 1
            strangers_matched += who is not None
    print(f"  eval enrolled probes: {enrolled}, identified right {right / max(1, enrolled):.3f}, "
          f"wrong person {wrong / max(1, enrolled):.3f}")
    print(f"  eval non-enrolled probes: {strangers}, matched to someone {strangers_matched} "
          f"[goal: 0]")
    return 0


def dev_open_set_threshold(dev: dict[str, tuple[str, np.ndarray]]) -> tuple[float, float, float]:
    """Leave each dev person out of a gallery of two photos per person; return the gap's middle and its ends.

    Every other dev photo is a probe: the left-out person's photos are strangers,
    the rest (beyond the two gallery photos) are enrolled probes.
    """
    persons: dict[str, list[np.ndarray]] = {}
    for _, (person, d) in sorted(dev.items()):
        persons.setdefault(person, []).append(d)
    right, strangers = [], []
    for out in persons:
        gallery = {p: ds[:2] for p, ds in persons.items() if p != out}
        probes = [(out, d) for d in persons[out]] + [(p, d) for p, ds in persons.items() if p != out for d in ds[2:]]
        for person, d in probes:
            dist, who = min((min(float(np.linalg.norm(d - g)) for g in gs), p) for p, gs in gallery.items())
            if person == out:
                strangers.append(dist)
            elif who == person:
                right.append(dist)
    worst_right, nearest_stranger = max(right), min(strangers)
    return (worst_right + nearest_stranger) / 2, worst_right, nearest_stranger


if __name__ == "__main__":
    raise SystemExit(main())
