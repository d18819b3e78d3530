"""Python's garbage collector for a long-running server: fewer and shorter collections.

Every API request makes thousands of short-lived objects (the framework's, SQLAlchemy's, the rows), so the
collector's youngest generation filled every 700 allocations, and each older collection walked everything
the process had built at start (the registry, the detectors' indexes, the models' objects). Measured by
benchmarks/api_load.py (100,000 alerts, 200 requests/s, SQLite, with the memory map of cases/db.py): server
CPU 3.1-4.5 ms per request and p95 26-365 ms with the defaults (1 run of 6 within the 50 ms goal); with what
start-up built frozen and the youngest generation collected every 50,000 allocations, 3.1-4.0 ms and p95
11.8-56.2 ms (4 runs of 5). Cyclic garbage still goes: the older generations are collected after 50 and 10
younger collections (with 1000 for the oldest, tried first, 4 runs of 5 passed too: no reason to keep more).
"""

from __future__ import annotations

import gc

YOUNG_EVERY = 50_000  # allocations between collections of the youngest generation (default 700)
MIDDLE_EVERY, OLD_EVERY = 50, 10  # younger collections between collections of the next generation


def settle_after_start() -> None:
    """Call once start-up is done: what exists now lives as long as the process, and is never walked again."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_EVERY, MIDDLE_EVERY, OLD_EVERY)
