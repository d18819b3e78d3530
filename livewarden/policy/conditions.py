"""Conditions a rule can name in `when`: small predicates over (registry, signal).

Kept as a table of plain functions so rules stay data and a new condition is
one function here.
"""

from __future__ import annotations

from typing import Callable

from livewarden.model import Signal
from livewarden.registry.schema import Registry


def always(registry: Registry, signal: Signal) -> bool:
    return True


def seller_not_authorized(registry: Registry, signal: Signal) -> bool:
    """The brand in `signal.subject` is on camera in a room whose seller may not sell it."""
    return not registry.is_authorized(signal.room_id, signal.subject)


CONDITIONS: dict[str, Callable[[Registry, Signal], bool]] = {
    "always": always,
    "seller_not_authorized": seller_not_authorized,
}
