"""Apply a changed registry file to a running server, rooms staying live (`POST /registry/reload`).

A brand adds a mark, a platform onboards a room, a person authorizes a seller: none of it should need a
restart that drops every room. The file is read and checked first; if it has a problem nothing changes.
Then the new detectors are built (only when the reference material changed: marks, products, persons, or
their image files), and only then is anything swapped: the policy, the alerts' scope and the scanner read the
new registry; rooms gone from the file stop, new rooms start, and rooms whose source changed (or all rooms,
when the detectors were rebuilt) restart, a gap of about a second that their health shows.

With rooms on Ray (`serve --engine ray`) the rooms are the room placer's: it hands the new registry to every
room worker, which applies it to its own detectors and rooms (`RegistryReload.apply`, as here), then places the
new rooms and drops the removed ones (runtime/ray_engine.py).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

from livewarden.registry import load_registry
from livewarden.registry.schema import Registry

log = logging.getLogger(__name__)


def file_digest(path: Path) -> str:
    """SHA-256 of the registry file: which version was in force, for the audit trail."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _reference_state(registry: Registry) -> tuple:
    """What the detectors' indexes are built from: the entries and the state of each image file."""
    files = [p for b in registry.brands for p in b.marks] + [p for pr in registry.products for p in pr.images] + \
        [p for pe in registry.persons for p in pe.photos]

    def state(path: Path) -> tuple:
        try:
            st = path.stat()
            return (str(path), st.st_size, st.st_mtime_ns)
        except OSError:
            return (str(path), None, None)

    return registry.brands, registry.products, registry.persons, [state(p) for p in files]


def room_changes(old: Registry | None, new: Registry, restart_all: bool = False) -> dict[str, list[str]]:
    """The rooms a new registry adds, removes and restarts (its source changed, or every room kept, with
    `restart_all`), each sorted: what a reload summary says, here or on the room placer."""
    before = {r.id: r for r in old.rooms} if old is not None else {}
    after = {r.id: r for r in new.rooms}
    kept = after.keys() & before.keys()
    return {"rooms_added": sorted(after.keys() - before.keys()),
            "rooms_removed": sorted(before.keys() - after.keys()),
            "rooms_restarted": sorted(i for i in kept if restart_all or after[i].source != before[i].source)}


class RegistryReload:
    """Re-reads `path` and applies it to `system` (policy, scope, detectors) and `pipeline` (its rooms), or to
    `placer` (rooms on Ray workers). A room worker uses `apply` alone (no file: the placer sends the registry),
    and starts no room of its own accord (`start_new=False`: the placer places them)."""

    def __init__(self, path: str | Path | None, system: Any = None, pipeline: Any = None, check_images: bool = True,
                 placer: Any = None, start_new: bool = True):
        self.path, self.system, self.pipeline, self.check_images = path and Path(path), system, pipeline, check_images
        self.placer, self.start_new = placer, start_new
        self.registry: Registry | None = system.registry if system is not None else None
        self.digest = file_digest(self.path) if self.path is not None else None
        self.loaded_at = time.time()
        self._lock = threading.Lock()  # one reload at a time
        self._reference = _reference_state(self.registry) if self.registry is not None else None

    def __call__(self) -> dict[str, Any]:
        """Apply the file; the summary of what changed. Raises RegistryError (nothing changed) on a bad file."""
        with self._lock:
            new = load_registry(self.path, check_images=self.check_images)
            summary = self.apply(new, file_digest(self.path))
            log.info("registry %s reloaded: %s", self.path, summary)
            return summary

    def apply(self, new: Registry, digest: str | None = None) -> dict[str, Any]:
        """Apply a registry already read and checked; the summary of what changed."""
        old = self.registry
        reference = _reference_state(new)
        rebuild = self.system is not None and reference != self._reference
        detectors = self._build_detectors(new) if rebuild else None  # may fail: nothing swapped yet
        if self.system is not None:
            self._swap_system(new, detectors)
        if self.placer is not None:
            rooms = self.placer.apply_registry(new)
        else:
            rooms = self._apply_rooms(old, new, restart_all=rebuild)
        self.registry, self.digest, self.loaded_at, self._reference = new, digest, time.time(), reference
        return {"sha256": digest, "loaded_at": self.loaded_at, "detectors_rebuilt": rebuild, **rooms,
                "counts": {k: len(getattr(new, k)) for k in ("brands", "products", "persons", "sellers", "rooms")}}

    def _build_detectors(self, registry: Registry) -> list:
        from livewarden.runtime.build import build_detectors

        detectors = build_detectors(registry, self.system.settings)
        if not self.system.settings.runtime.offline:
            for detector in detectors:
                detector.warm()
        return detectors

    def _swap_system(self, registry: Registry, detectors: list | None) -> None:
        from livewarden.cases.scope import alert_scope

        self.system.registry = registry
        self.system.policy.registry = registry
        self.system.store.scope = alert_scope(registry)
        if detectors is not None:
            self.system.detectors = detectors
            if self.pipeline is not None:
                self.pipeline.detectors = detectors
        if self.pipeline is not None:
            self.pipeline.registry = registry

    def _apply_rooms(self, old: Registry | None, new: Registry, restart_all: bool) -> dict[str, list[str]]:
        changes = room_changes(old, new, restart_all)
        added, removed, restarted = changes["rooms_added"], changes["rooms_removed"], changes["rooms_restarted"]
        if self.pipeline is not None:
            watched = set(self.pipeline.rooms)
            for room_id in removed + restarted:
                self.pipeline.remove_room(room_id)
            for room_id in added + restarted:
                if room_id in watched or (room_id in added and self.start_new):
                    self.pipeline.add_room(new.room(room_id))
        return changes
