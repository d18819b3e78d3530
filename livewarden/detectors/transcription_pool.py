"""The speech budget: at most N transcriptions at once, for every room with speech together.

Speech is the most expensive reader per room (Whisper base: ~0.3 s of CPU per second of audio on one core).
Each room's listener thread asks the pool for a slot before it transcribes a window; with more rooms than
the budget holds, the rooms wait their turn in the order they asked (a queue of tokens: `queue.Queue` wakes
its waiters first come, first served) and fall behind live — shown as `speech_lag_s` in the room's health —
while their video, on other threads, is never held up.
"""

from __future__ import annotations

import queue
import threading
from contextlib import contextmanager
from typing import Iterator


class TranscriptionPool:
    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ValueError(f"detectors.speech.workers must be at least 1, not {workers}")
        self.workers = workers
        self._tokens: queue.Queue[int] = queue.Queue()
        for i in range(workers):
            self._tokens.put(i)
        self._lock = threading.Lock()
        self.waiting = 0  # listeners waiting for a slot now
        self.transcribed = 0  # windows transcribed so far

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the pool's transcription slots (blocks until one is free, in turn)."""
        with self._lock:
            self.waiting += 1
        token = self._tokens.get()
        with self._lock:
            self.waiting -= 1
        try:
            yield
        finally:
            with self._lock:
                self.transcribed += 1
            self._tokens.put(token)
