"""How long to wait before reconnecting: exponential backoff with jitter, started over after a success.

Every reconnect loop (chat websocket, video sources, the speech listener) asks the
same thing — "how long until the next attempt?" — and wants the same answer: short
at first so a blip costs little, doubling so a dead server is not hammered, capped
so a recovered one is found soon, and jittered so many clients that lost the same
server do not all come back in the same instant. The caller does the waiting (on
its own stop event), so a stop request is never held up by a backoff::

    backoff = Backoff(0.5, 30.0)
    while not stop.is_set():
        if session_delivered_something():
            backoff.reset()
        stop.wait(backoff.next())
"""

from __future__ import annotations

import random


class Backoff:
    """Delays of `initial`, 2×, 4×, ... up to `maximum` seconds, each scaled by a random factor in 1 ± `jitter`.

    No delay returned is ever longer than `maximum`. `reset()` after a connection
    worked makes the next delay `initial` again.
    """

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, *, factor: float = 2.0,
                 jitter: float = 0.2, rng: random.Random | None = None):
        if not 0 < initial <= maximum:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got {initial} and {maximum}")
        if factor < 1 or not 0 <= jitter < 1:
            raise ValueError(f"backoff needs factor >= 1 and 0 <= jitter < 1, got {factor} and {jitter}")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._delay = initial

    def next(self) -> float:
        """Seconds to wait before the next attempt; each call (until `reset`) grows the one after."""
        delay = self._delay * self._rng.uniform(1 - self.jitter, 1 + self.jitter)
        self._delay = min(self._delay * self.factor, self.maximum)
        return min(delay, self.maximum)

    def reset(self) -> None:
        """The connection worked: start over from `initial`."""
        self._delay = self.initial
