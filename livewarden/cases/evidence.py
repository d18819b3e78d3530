"""Evidence files for a signal: the crop of what was seen, the annotated frame, the words as they came, and
(when the detector names one) a copy of the registry reference it matched, so the evidence stands even if the
registry changes.

The worker that saw the frame cuts the files into a spool (`EvidenceSpool.cut`) and the signal carries
references (path + SHA-256), never the frame; the store keeps the files of the alerts it writes
(`keep_evidence`, before the alert row is committed, so every committed alert points at files that exist) and
the spool forgets the rest after a few minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from livewarden.errors import Unavailable
from livewarden.model import EvidenceRef, Signal

CROP_MARGIN = 0.15
FRAME_MAX_WIDTH = 960


def kept_file(root: Path, path: str | Path) -> Path | None:
    """`path` when it is a file under `root` (a folder evidence is kept in), else None: a route that serves
    evidence by its recorded path never serves another file."""
    root, path = Path(root).resolve(), Path(path).resolve()
    return path if root in path.parents and path.is_file() else None


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


def _ref(path: Path, data: bytes, role: str) -> EvidenceRef:
    _write(path, data)
    return EvidenceRef(str(path), hashlib.sha256(data).hexdigest(), role)


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise OSError("could not encode an evidence image")
    return buf.tobytes()


def cut_evidence(signal: Signal, directory: Path, stem: str) -> list[EvidenceRef]:
    """Save crop + annotated frame (and, for words said, shown or typed, the line itself); return references."""
    refs = []
    directory.mkdir(parents=True, exist_ok=True)
    if "text" in signal.evidence and "source" in signal.evidence:  # the words, as they came, with the span flagged
        words = {"room": signal.room_id, "stream_time": round(signal.stream_time, 3), "kind": signal.kind,
                 "subject": signal.subject, **signal.evidence}
        refs.append(_ref(directory / f"{stem}_text.json",
                         json.dumps(words, ensure_ascii=False, indent=2).encode("utf-8"), "text"))
    frame = signal.frame
    if frame is None:
        return refs
    image = frame.image
    h, w = image.shape[:2]
    box = _bbox(signal, w, h)
    if box:
        x1, y1, x2, y2 = box
        refs.append(_ref(directory / f"{stem}_crop.jpg", _jpeg(image[y1:y2, x1:x2]), "crop"))
    annotated = image.copy()
    poly = signal.evidence.get("polygon")
    if poly:
        cv2.polylines(annotated, [np.asarray(poly, dtype=np.int32)], True, (0, 0, 255), 3)
    label = f"{signal.room_id} t={signal.stream_time:.1f}s {signal.kind}:{signal.subject} {signal.confidence:.2f}"
    cv2.putText(annotated, label, (12, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(annotated, label, (12, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2, cv2.LINE_AA)
    if w > FRAME_MAX_WIDTH:
        annotated = cv2.resize(annotated, (FRAME_MAX_WIDTH, int(h * FRAME_MAX_WIDTH / w)), interpolation=cv2.INTER_AREA)
    refs.append(_ref(directory / f"{stem}_frame.jpg", _jpeg(annotated), "frame"))
    reference = signal.evidence.get("reference_path")
    if reference and Path(reference).is_file():
        path = directory / f"{stem}_reference{Path(reference).suffix.lower() or '.jpg'}"
        refs.append(_ref(path, Path(reference).read_bytes(), "reference"))
    return refs


class EvidenceSpool:
    """Where workers cut evidence before anyone knows whether an alert will want it.

    At most one cut per (room, kind, subject) every `every_s` seconds: the signals in between carry the last
    cut's references (the same subject in the same room less than a second earlier). Files older than
    `keep_s` are removed; the store has hard-linked what its alerts keep.
    """

    def __init__(self, directory: str | Path, every_s: float = 1.0, keep_s: float = 300.0,
                 share: Callable[[str, bytes], None] | None = None):
        self.directory = Path(directory)
        self.every_s, self.keep_s = every_s, keep_s
        self.share = share  # (sha256, bytes) of every file cut, for a policy on another machine (a Redis bus)
        self._last: dict[tuple[str, str, str], tuple[float, list[EvidenceRef]]] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def attach(self, signal: Signal) -> Signal:
        """Cut (or reuse) the evidence of `signal`, set its references, drop its frame; returns it."""
        key = (signal.room_id, signal.kind, signal.subject)
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
        if last is not None and now - last[0] < self.every_s and all(os.path.exists(r.path) for r in last[1]):
            signal.evidence_refs = list(last[1])
        else:
            room_dir = self.directory / _safe_name(signal.room_id)
            signal.evidence_refs = cut_evidence(signal, room_dir, uuid.uuid4().hex[:16])
            if self.share is not None:
                for ref in signal.evidence_refs:
                    self.share(ref.sha256, Path(ref.path).read_bytes())
            with self._lock:
                self._last[key] = (now, signal.evidence_refs)
        signal.frame = None
        if now - self._swept > 30.0:
            self.sweep()
        return signal

    def forget_room(self, room_id: str) -> None:
        with self._lock:
            for key in [k for k in self._last if k[0] == room_id]:
                del self._last[key]

    def sweep(self) -> None:
        """Remove spooled files older than keep_s (kept alerts hold their own hard links)."""
        self._swept = time.monotonic()
        cutoff = time.time() - self.keep_s
        for path in self.directory.glob("*/*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:
                pass


def keep_evidence(refs: list[EvidenceRef], directory: Path, stem: str,
                  fetch: Callable[[str], bytes | None] | None = None) -> list[str]:
    """Keep the referenced files under `directory` as `<stem>_<role><ext>`; returns their paths.

    A hard link where the file system allows (no copy), a copy elsewhere; a file not on this machine is asked
    of `fetch` by its hash (a worker on another machine sent it to the bus). A file whose content does not match
    its hash, or that is gone, is left out (and named in the log by the caller's audit).
    """
    kept = []
    directory.mkdir(parents=True, exist_ok=True)
    for ref in refs:
        source = Path(ref.path)
        try:
            data = source.read_bytes()
            local = True
        except FileNotFoundError:
            data, local = _fetched(fetch, ref), False
            if data is None:
                continue
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            continue
        target = directory / f"{stem}_{ref.role}{source.suffix}"
        if target.exists():
            target.unlink()
        try:
            if not local:
                raise OSError("not on this disk")
            os.link(source, target)
        except OSError:
            _write(target, data)
        kept.append(str(target))
    return kept


def _fetched(fetch: Callable[[str], bytes | None] | None, ref: EvidenceRef) -> bytes | None:
    if fetch is None:
        return None
    try:
        return fetch(ref.sha256)
    except Exception as exc:  # the bus is down: wait for it (the signal is retried in order), do not drop the file
        raise Unavailable(f"the evidence of {ref.path} could not be fetched: {exc}") from exc


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)[:64]
