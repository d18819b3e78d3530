"""Built registry indexes on disk, so a run does not embed, enroll or describe again what an earlier run did.

An entry is what ONE reference gives (a catalog image's vectors, a face photo's descriptor, a mark's
features), stored under the SHA-256 of everything it is built from: the reference's content (a file's
bytes, never its path or mtime), the settings that change the result, and a version string naming the model
and the format. So adding one product to a 500-product catalog builds one entry, and a changed setting or
model builds them all again. Entries are plain `.npz` files (arrays, plus the key's inputs as a JSON header
for a person looking at the folder), loaded with `allow_pickle=False`. Each is written to a temporary file
and renamed into place, so a reader sees a whole entry or none; two processes building the same entry
both write it and the last rename wins. An entry that cannot be read is built again, with a warning; a
folder that cannot be written to only costs the saving. Entries are readable by their owner only (face
descriptors are biometric data); nothing is evicted, and deleting the folder is always safe.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
_HEADER = "_about"  # the JSON header's name inside an entry


def content(image: np.ndarray | Path | str) -> bytes:
    """What a reference is, for its key: a file's bytes, or an array's shape, type and pixels."""
    if isinstance(image, np.ndarray):
        return f"{image.shape}{image.dtype.str}".encode() + np.ascontiguousarray(image).tobytes()
    return Path(image).read_bytes()


def decode(data: bytes) -> np.ndarray | None:
    """A file's bytes as a BGR image (what cv2.imread gives for the file), None when they are not one."""
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None


@functools.cache
def versions(*distributions: str) -> str:
    """The installed versions of these packages (models, their runtimes), for a version string."""
    return ", ".join(f"{d} {installed_version(d)}" for d in distributions)


class IndexCache:
    """A folder of entries: `<root>/<kind>/<key>.npz`."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    @staticmethod
    def key(version: str, settings: dict[str, Any], data: bytes) -> str:
        """SHA-256 of the version, the settings (as sorted JSON) and the reference's content."""
        h = hashlib.sha256()
        for part in (version.encode(), json.dumps(settings, sort_keys=True).encode(), data):
            h.update(len(part).to_bytes(8, "little"))  # lengths first: no two different inputs run together
            h.update(part)
        return h.hexdigest()

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.npz"

    def get(self, kind: str, key: str) -> Arrays | None:
        """The stored arrays, or None when there is no entry or it cannot be read (then with a warning)."""
        path = self.path(kind, key)
        try:
            with np.load(path, allow_pickle=False) as npz:  # every member read here: a bad CRC raises now
                return {name: npz[name] for name in npz.files if name != _HEADER}
        except FileNotFoundError:
            return None
        except Exception as exc:  # truncated, not a zip, bad CRC, pickled object...: build it again
            log.warning("index cache entry %s cannot be read (%s: %s); building it again", path,
                        type(exc).__name__, exc)
            return None

    def put(self, kind: str, key: str, arrays: Arrays, about: dict[str, Any]) -> None:
        """Store an entry atomically (temporary file in the same folder, then rename)."""
        path = self.path(kind, key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:16]}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays, **{_HEADER: np.array(json.dumps(about, sort_keys=True))})
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("index cache entry %s not saved (%s); it will be built again next run", path, exc)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def fetch(self, kind: str, version: str, settings: dict[str, Any], data: bytes,
              build: Callable[[], Arrays], name: str = "") -> Arrays:
        """The entry for this reference, built and stored when it is missing or unreadable.

        `name` (the reference's file name) only goes into the header, never into the key.
        """
        key = self.key(version, settings, data)
        arrays = self.get(kind, key)
        if arrays is None:
            arrays = build()
            self.put(kind, key, arrays, {"version": version, "settings": settings, "reference": name})
        return arrays


def fetch(cache: IndexCache | None, kind: str, version: str, settings: dict[str, Any], data: bytes,
          build: Callable[[], Arrays], name: str = "") -> Arrays:
    """`cache.fetch`, or just `build()` when there is no cache (tests, benchmarks)."""
    return build() if cache is None else cache.fetch(kind, version, settings, data, build, name)


def for_settings(settings: Any) -> IndexCache | None:
    """The cache a run's settings name (`store.index_dir`); none without settings (tests build from scratch)."""
    return None if settings is None else IndexCache(settings.store.index_dir)
