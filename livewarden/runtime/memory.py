"""Keep a long-running watcher's memory flat while rooms come and go (glibc's malloc, Linux).

Two glibc defaults make a process that starts and ends threads all day grow without leaking: every new
thread may get its own malloc arena (up to 8 per core), and after a large block is freed, the size above
which blocks are mmapped (and so given back to the system when freed) rises, up to 32 MB. A room's reader
threads come and go with the room, and its 720p frames (2.7 MB each) then land in arenas that keep them.
Measured by benchmarks/room_churn_memory.py: 8 rooms replaced every 4 s grew 210 MB in 5 minutes with the
defaults and 54 MB with two arenas. So: two arenas, and frames always mmapped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc malloc.h
MMAP_THRESHOLD = 1 << 20  # blocks from 1 MB (a frame, a decoded picture) are mmapped and returned on free
ARENAS = 2

_done = False


def keep_memory_flat() -> bool:
    """Set the two malloc options once per process (before the room threads start); False if not glibc."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS): their allocators behave differently
    ok = mallopt(M_ARENA_MAX, ARENAS) == 1 and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    if not ok:
        log.debug("mallopt refused the memory options")
    _done = ok
    return ok
