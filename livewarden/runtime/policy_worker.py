"""`livewarden policy`: a process that only decides. It reads signals from the bus (a consumer of the Redis
Streams group, beside any number of others), runs the policy, commits alerts and files them into cases.

Rooms are watched elsewhere (`livewarden watch --bus URL --no-decide`, or a room worker); the API servers read
the same store. Several policy processes share the signal partitions: each room is decided by one at a time,
and a killed one's rooms are taken over when its leases expire (see runtime/redis_bus.py).
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable

from livewarden.runtime.bus import ALERTS


def run_policy(system: Any, stop: threading.Event | None = None,
               on_alert: Callable[[Any], None] | None = None) -> None:
    """Decide until `stop` is set (or SIGTERM / Ctrl-C in the main thread); then hand the partitions back."""
    from livewarden.cases.platform import Platform
    from livewarden.runtime.pipeline import Decider

    stop = stop or threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if in_main else None
    Platform(system.store, rules=system.policy.rules, claim_ttl_s=system.settings.cases.claim_ttl_s)
    if on_alert is not None:
        system.bus.subscribe(ALERTS, on_alert)
    Decider(system)  # subscribing to signals makes this process a consumer: it reads from now on
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        system.bus.close()
