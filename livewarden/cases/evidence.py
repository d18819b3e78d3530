"""Evidence images for an alert: the crop of what was seen, the annotated frame, and (when the detector
names one) a copy of the registry reference it matched, so the evidence stands even if the registry changes.

Written to disk before the alert row is committed, so every committed alert
points at files that exist.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from livewarden.model import Signal

CROP_MARGIN = 0.15
FRAME_MAX_WIDTH = 960


def _bbox(signal: Signal, width: int, height: int) -> tuple[int, int, int, int] | None:
    poly = signal.evidence.get("polygon")
    if not poly:
        return None
    pts = np.asarray(poly, dtype=np.float32)
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
    x1, y1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
    x2, y2 = min(width, int(x2 + mx)), min(height, int(y2 + my))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def _write(path: Path, data: bytes) -> None:
    """Write atomically: a reader never sees half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise OSError(f"could not encode evidence image {path}")
    _write(path, buf.tobytes())


def write_evidence(signal: Signal, directory: Path, stem: str) -> list[str]:
    """Save crop + annotated frame (and, for words said, shown or typed, the line itself); return the paths."""
    written = []
    if "text" in signal.evidence and "source" in signal.evidence:  # the words, as they came, with the span flagged
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{stem}_text.json"
        _write(path, json.dumps({"room": signal.room_id, "stream_time": round(signal.stream_time, 3),
                                 "kind": signal.kind, "subject": signal.subject, **signal.evidence},
                                ensure_ascii=False, indent=2).encode("utf-8"))
        written.append(str(path))
    frame = signal.frame
    if frame is None:
        return written
    directory.mkdir(parents=True, exist_ok=True)
    image = frame.image
    h, w = image.shape[:2]
    box = _bbox(signal, w, h)
    if box:
        x1, y1, x2, y2 = box
        path = directory / f"{stem}_crop.jpg"
        _write_jpeg(path, image[y1:y2, x1:x2])
        written.append(str(path))
    annotated = image.copy()
    poly = signal.evidence.get("polygon")
    if poly:
        cv2.polylines(annotated, [np.asarray(poly, dtype=np.int32)], True, (0, 0, 255), 3)
    label = f"{signal.room_id} t={signal.stream_time:.1f}s {signal.kind}:{signal.subject} {signal.confidence:.2f}"
    cv2.putText(annotated, label, (12, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(annotated, label, (12, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2, cv2.LINE_AA)
    if w > FRAME_MAX_WIDTH:
        annotated = cv2.resize(annotated, (FRAME_MAX_WIDTH, int(h * FRAME_MAX_WIDTH / w)), interpolation=cv2.INTER_AREA)
    path = directory / f"{stem}_frame.jpg"
    _write_jpeg(path, annotated)
    written.append(str(path))
    reference = signal.evidence.get("reference_path")
    if reference and Path(reference).is_file():
        path = directory / f"{stem}_reference{Path(reference).suffix.lower() or '.jpg'}"
        _write(path, Path(reference).read_bytes())
        written.append(str(path))
    return written
