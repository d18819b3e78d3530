"""Reconnect delays: doubling from initial to the cap, jittered, never over the cap, started over by reset."""

from __future__ import annotations

import random

import pytest

from livewarden.media.backoff import Backoff


def test_doubles_up_to_the_maximum_and_starts_over_after_reset():
    backoff = Backoff(0.5, 4.0, jitter=0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert [backoff.next() for _ in range(2)] == [0.5, 1.0]


def test_jitter_spreads_delays_but_never_past_the_maximum():
    backoff = Backoff(1.0, 8.0, jitter=0.25, rng=random.Random(7))
    delays = [backoff.next() for _ in range(200)]
    assert 0.75 <= delays[0] <= 1.25 and 1.5 <= delays[1] <= 2.5
    at_cap = delays[4:]
    assert all(6.0 <= d <= 8.0 for d in at_cap) and len(set(at_cap)) > 100  # spread: clients do not march in step


@pytest.mark.parametrize("kwargs", [dict(initial=0, maximum=1), dict(initial=2, maximum=1),
                                    dict(initial=1, maximum=2, jitter=1), dict(initial=1, maximum=2, factor=0.5)])
def test_refuses_settings_that_cannot_back_off(kwargs):
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(**kwargs)
