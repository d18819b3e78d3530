"""The bus between detection and decision, and from decision to everyone who is told.

Three topics:
- `signals`: detectors -> the policy (a Signal, evidence cut and referenced);
- `observed`: the policy -> timeline, transcript, console (the signal as the rules saw it: a stated price
  attributed to a product);
- `alerts`: the store -> console, scan report, live feed, webhooks (an AlertEvent, after the commit).

The contract every bus keeps (the in-process one here; Redis Streams in runtime/redis_bus.py): messages of one room arrive in
the order they were published, delivery is at least once, and every signal has an idempotency key
(`Signal.key`) so a consumer counts a redelivery once (the policy does). A subscriber that raises is logged
and does not stop the others.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

log = logging.getLogger(__name__)

SIGNALS, OBSERVED, ALERTS = "signals", "observed", "alerts"
TOPICS = (SIGNALS, OBSERVED, ALERTS)

Handler = Callable[[Any], None]


@dataclass(frozen=True)
class AlertEvent:
    """A committed alert and the policy update that made it (`update.opened`: the first time it fires)."""

    alert: Any  # cases.repository.AlertRecord
    update: Any  # policy.engine.Update


class Bus(ABC):
    @abstractmethod
    def publish(self, topic: str, message: Any) -> None:
        """Hand `message` to every subscriber of `topic` (returns once it is accepted)."""

    @abstractmethod
    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call `handler(message)` for every message of `topic` published from now on."""

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything published has left this process (in process: it has, at once)."""
        return True

    def close(self) -> None:
        """Stop delivering (nothing to do in process)."""


class InProcessBus(Bus):
    """Delivers in the publisher's thread, to each subscriber in the order they subscribed.

    Per-room order holds because a room's items are processed by one thread at a time (runtime.slots), and
    delivery is exactly once, which is at least once.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()
        self.errors = 0

    def subscribe(self, topic: str, handler: Handler) -> None:
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic!r}; topics: {', '.join(TOPICS)}")
        with self._lock:
            self._handlers[topic] = [*self._handlers[topic], handler]  # copy on write: publish never locks

    def publish(self, topic: str, message: Any) -> None:
        for handler in self._handlers.get(topic, ()):
            try:
                handler(message)
            except Exception:
                self.errors += 1
                log.exception("subscriber %s of %s failed", getattr(handler, "__qualname__", handler), topic)
