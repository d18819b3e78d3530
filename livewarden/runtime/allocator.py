"""Run the long-lived commands (watch, serve, demo) on jemalloc when it is installed (Debian `libjemalloc2`).

Rooms that come and go all day leave glibc's malloc fragmented: its resident memory wandered by +-50 MB and
grew 10-17% from minute 10 to minute 30 of benchmarks/room_churn_memory.py even with two arenas and a trim
after each room, while the Python and numpy memory it held stayed flat (tracemalloc: +1 MB over 200 rooms).
Under jemalloc the same run stayed within 40 MB and ended below where it started. An allocator is chosen
when a process starts, so the command re-executes itself once with jemalloc preloaded; the preload is then
taken out of the environment so that child processes (ffmpeg, nginx) start as usual.
LIVEWARDEN_ALLOCATOR=glibc keeps the system allocator (then runtime.memory tunes glibc instead).
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path

CHOICE = "LIVEWARDEN_ALLOCATOR"
_GUARD = "_LIVEWARDEN_REEXECUTED"  # set on the re-executed process: never loop if the preload did not take
_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")


def jemalloc_path() -> str | None:
    """The installed jemalloc shared library, or None."""
    for folder in _LIB_DIRS:
        lib = Path(folder) / "libjemalloc.so.2"
        if lib.exists():
            return str(lib)
    name = ctypes.util.find_library("jemalloc")
    return name if name and name.startswith("/") else None


def allocator_in_use() -> str:
    """'jemalloc' if this process runs on it, else 'glibc' (or the platform's own)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "system"
    return "jemalloc" if "libjemalloc" in maps else "glibc"


def run_on_jemalloc() -> None:
    """Re-execute this process on jemalloc unless it already runs on it, it is not installed, or the user
    chose glibc. Returns only when no re-execution happens; call it before any thread starts."""
    if os.environ.get(CHOICE, "jemalloc").lower() != "jemalloc" or not sys.platform.startswith("linux"):
        return
    if allocator_in_use() == "jemalloc":
        _drop_preload()
        return
    lib = jemalloc_path()
    if lib is None or os.environ.get(_GUARD):
        return
    env = dict(os.environ, LD_PRELOAD=" ".join(filter(None, [lib, os.environ.get("LD_PRELOAD", "")])))
    env[_GUARD] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def _drop_preload() -> None:
    lib = jemalloc_path()
    rest = [p for p in os.environ.get("LD_PRELOAD", "").split() if p != lib]
    if rest:
        os.environ["LD_PRELOAD"] = " ".join(rest)
    else:
        os.environ.pop("LD_PRELOAD", None)
    os.environ.pop(_GUARD, None)
