"""The hand-off between readers and workers: newest frame per room, one frame per room at a time."""

import numpy as np

from livewarden.model import Frame
from livewarden.runtime.slots import LatestFrames


def frame(room: str, t: float) -> Frame:
    return Frame(room_id=room, stream_time=t, image=np.zeros((2, 2, 3), np.uint8))


def test_newer_frame_replaces_a_waiting_one_and_counts_as_a_drop():
    slots = LatestFrames()
    slots.put(frame("a", 0.0))
    slots.put(frame("a", 0.5))
    assert slots.take().stream_time == 0.5 and slots.replaced == {"a": 1}


def test_a_room_is_analysed_one_frame_at_a_time_others_go_on():
    slots = LatestFrames()
    slots.put(frame("a", 0.0))
    first = slots.take()
    slots.put(frame("a", 0.5))
    slots.put(frame("b", 0.0))
    second = slots.take(timeout=0.01)
    assert (first.room_id, second.room_id) == ("a", "b")  # a's next frame waits while a is busy
    assert slots.take(timeout=0.01) is None and not slots.idle()
    slots.done("a")
    assert slots.take(timeout=0.01).stream_time == 0.5
    slots.done("a")
    slots.done("b")
    assert slots.idle()


def test_an_unchanged_frame_never_replaces_news_and_is_no_drop_when_replaced():
    from dataclasses import replace

    slots = LatestFrames()
    slots.put(frame("a", 0.0))
    slots.put(replace(frame("a", 0.5), unchanged=True))  # a reminder must not push out the waiting new picture
    assert slots.take().stream_time == 0.0 and slots.replaced == {}
    slots.done("a")
    slots.put(replace(frame("a", 1.0), unchanged=True))
    slots.put(frame("a", 1.5))  # a new picture replaces a waiting reminder: nothing was lost
    taken = slots.take()
    assert (taken.stream_time, taken.unchanged) == (1.5, False) and slots.replaced == {}
