"""The speech budget: never more transcriptions at once than it holds, and rooms served in the order they asked."""

from __future__ import annotations

import threading
import time

import pytest

from livewarden.config import Settings
from livewarden.detectors.transcription_pool import TranscriptionPool


def busy_rooms(pool: TranscriptionPool, rooms: int, hold_s: float = 0.05) -> tuple[int, list[int]]:
    """Rooms asking one after the other; returns the most slots held at once and the order they were served."""
    lock, active, peak, served = threading.Lock(), [0], [0], []

    def room(i: int) -> None:
        with pool.slot():
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
                served.append(i)
            time.sleep(hold_s)
            with lock:
                active[0] -= 1

    threads = []
    for i in range(rooms):
        threads.append(threading.Thread(target=room, args=(i,)))
        threads[-1].start()
        time.sleep(0.005)  # they ask in order
    for t in threads:
        t.join(5)
    return peak[0], served


def test_one_slot_serves_one_room_at_a_time_first_come_first_served():
    pool = TranscriptionPool(1)
    peak, served = busy_rooms(pool, 6)
    assert peak == 1 and served == list(range(6))
    assert pool.transcribed == 6 and pool.waiting == 0


def test_two_slots_let_two_rooms_through():
    peak, served = busy_rooms(TranscriptionPool(2), 6)
    assert peak == 2 and sorted(served) == list(range(6))


def test_the_budget_must_hold_a_slot():
    with pytest.raises(ValueError, match="speech.workers"):
        TranscriptionPool(0)
    with pytest.raises(Exception, match="workers"):
        Settings().with_overrides({"detectors.speech.workers": 0})
