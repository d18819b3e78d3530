"""Keep a long-running watcher's memory flat while rooms come and go (glibc's malloc, Linux).

glibc gives a new thread its own malloc arena (up to 8 per core), and an arena keeps what was freed in it. A
room's reader threads come and go with the room, and its 720p frames (2.7 MB each) land in their arenas, so
a process that watches rooms coming and going all day grows without leaking. Measured by
benchmarks/room_churn_memory.py (8 rooms replaced every 4 s, 5 minutes): +210 MB with the defaults, +54 MB
with two arenas; at one room replaced every 7.5 s, two arenas still grew 3% from 10 to 20 minutes, so when a
room ends the freed memory is also handed back (`malloc_trim`, a few ms once per room). Forcing every block
from 1 MB to be mmapped was tried and dropped: it turns each frame-sized temporary into a system call and
fresh zeroed pages, and cost throughput at 8 rooms. Even so glibc's footprint wandered and grew; the
long-lived commands therefore run on jemalloc when it is installed (runtime/allocator.py), and then none of
this applies.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

from livewarden.runtime.allocator import allocator_in_use

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc malloc.h
ARENAS = 2

_done = False
_libc = None


def _glibc():
    """glibc's malloc functions, or None if this process allocates with something else."""
    global _libc
    if _libc is None:
        if allocator_in_use() != "glibc":
            _libc = False
            return None
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.mallopt, _libc.malloc_trim  # noqa: B018  (both exist: glibc)
        except (OSError, AttributeError):
            _libc = False  # not glibc (musl, macOS): their allocators behave differently
    return _libc or None


def keep_memory_flat() -> bool:
    """Cap malloc's arenas once per process (before the room threads start); False if not glibc."""
    global _done
    if _done:
        return True
    libc = _glibc()
    if libc is None:
        return False
    ok = libc.mallopt(M_ARENA_MAX, ARENAS) == 1
    if not ok:
        log.debug("mallopt refused M_ARENA_MAX")
    _done = ok
    return ok


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def malloc_usage() -> dict[str, float] | None:
    """What malloc holds, in MB (glibc >= 2.33): in use, freed but kept in its heaps, and mmapped blocks.

    Tells a leak (in use grows) from fragmentation (kept grows) when resident memory grows.
    """
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _Mallinfo2
    m = libc.mallinfo2()
    return {"in_use_mb": m.uordblks / 2**20, "kept_free_mb": m.fordblks / 2**20, "mmapped_mb": m.hblkhd / 2**20}


def give_back_freed_memory() -> None:
    """Hand the memory freed in every arena back to the system (after a room ended)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
