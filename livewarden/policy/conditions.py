"""Conditions a rule can name in `when`: small predicates over (registry, signal, presence).

Kept as a table of plain functions so rules stay data and a new condition is
one function here. `presence` is the cross-room state (who is live where).
"""

from __future__ import annotations

from typing import Callable

from livewarden.model import Signal
from livewarden.policy.presence import Presence
from livewarden.registry.schema import Registry


def always(registry: Registry, signal: Signal, presence: Presence) -> bool:
    return True


def seller_not_authorized(registry: Registry, signal: Signal, presence: Presence) -> bool:
    """The brand in `signal.subject` is on camera in a room whose seller may not sell it."""
    return not registry.is_authorized(signal.room_id, signal.subject)


def product_not_listed(registry: Registry, signal: Signal, presence: Presence) -> bool:
    """The catalog product in `signal.subject` is on camera in a room that does not list it."""
    return signal.subject not in registry.listed_products(signal.room_id)


def brand_not_listed(registry: Registry, signal: Signal, presence: Presence) -> bool:
    """The room lists products, and none of them is of the brand on camera (product signal or mark signal)."""
    listed = [registry.product(pid) for pid in registry.listed_products(signal.room_id)]
    brands = {p.brand for p in listed if p is not None}
    shown = signal.evidence.get("brand", signal.subject) if signal.kind == "product" else signal.subject
    return bool(brands) and shown not in brands


def person_not_authorized(registry: Registry, signal: Signal, presence: Presence) -> bool:
    """The protected person in `signal.subject` is on camera in a room (and seller) they have not authorized."""
    return not registry.person_authorized(signal.room_id, signal.subject)


def live_elsewhere_unauthorized(registry: Registry, signal: Signal, presence: Presence) -> bool:
    """The person is live in another room at the same time, and this room is not one they authorized.

    Their own room is never flagged; every other room showing them at that moment is.
    """
    return bool(presence.other_rooms(signal)) and not registry.person_authorized(signal.room_id, signal.subject)


def price_below_floor(registry: Registry, signal: Signal, presence: Presence) -> bool:
    """A price stated for the product in `signal.subject` is below its brand's floor (a fraction of MSRP)."""
    ratio = signal.evidence.get("ratio")
    return ratio is not None and ratio < registry.price_floor(signal.subject)


def non_live(registry: Registry, signal: Signal, presence: Presence) -> bool:
    """The room is not live: it loops, it is frozen, or it plays a recording its own seller registered (someone
    else's recording is a restream, and a registered live room shown by its owner's other room is a simulcast)."""
    if signal.kind != "broadcast_match":
        return True
    return not signal.evidence.get("live") and registry.broadcast_authorized(signal.room_id, signal.subject)


def broadcast_not_authorized(registry: Registry, signal: Signal, presence: Presence) -> bool:
    """The registered broadcast in `signal.subject` plays in a room whose seller neither owns it nor is
    authorized by it."""
    return not registry.broadcast_authorized(signal.room_id, signal.subject)


def stream_not_own(registry: Registry, signal: Signal, presence: Presence) -> bool:
    """The room shows the stream of another room (`signal.subject`) of another seller, who has not authorized
    it through a registered broadcast of that room. A seller's own rooms may simulcast."""
    room, original = registry.room(signal.room_id), registry.room(signal.subject)
    if room is None or original is None:
        return room is not None
    if room.seller == original.seller:
        return False
    return not any(original.id in b.rooms and registry.broadcast_authorized(room.id, b.id)
                   for b in registry.broadcasts)


def code_not_issued(registry: Registry, signal: Signal, presence: Presence) -> bool:
    """A code in a registered brand's scheme whose serial the brand never issued, or revoked."""
    e = signal.evidence
    return e.get("issued") is False or bool(e.get("revoked"))


def code_cloned(registry: Registry, signal: Signal, presence: Presence) -> bool:
    """An issued code shown in another room too (within the presence window for codes), on several units in
    one frame, or verified by buyers more often than its scheme allows: one genuine code, copied."""
    e = signal.evidence
    if not e.get("issued") or e.get("revoked"):
        return False
    return (e.get("units", 1) > 1 or e.get("verified", 0) > e.get("max_verifications", float("inf"))
            or bool(presence.other_rooms(signal)))


def code_product_mismatch(registry: Registry, signal: Signal, presence: Presence) -> bool:
    """The code names a product (its GTIN, or the product the serial was issued for) that the room does not
    list, or another than the catalog product recognised on camera in the room just now."""
    product = signal.evidence.get("product")
    if not product:
        return False
    listed = registry.listed_products(signal.room_id)
    if listed and product not in listed:
        return True
    on_camera = presence.subjects_in(signal.room_id, "product", signal.wall_time)
    return bool(on_camera) and product not in on_camera


CONDITIONS: dict[str, Callable[[Registry, Signal, Presence], bool]] = {
    "always": always,
    "seller_not_authorized": seller_not_authorized,
    "product_not_listed": product_not_listed,
    "brand_not_listed": brand_not_listed,
    "person_not_authorized": person_not_authorized,
    "live_elsewhere_unauthorized": live_elsewhere_unauthorized,
    "price_below_floor": price_below_floor,
    "non_live": non_live,
    "broadcast_not_authorized": broadcast_not_authorized,
    "stream_not_own": stream_not_own,
    "code_not_issued": code_not_issued,
    "code_cloned": code_cloned,
    "code_product_mismatch": code_product_mismatch,
}
