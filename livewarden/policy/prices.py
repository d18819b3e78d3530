"""Which product a stated price is for, and how it compares with that product's MSRP: the policy's call.

A detector hears "only $25"; only the policy knows what was on camera in the
room at that moment and what the room lists. The `stated_price` signal becomes
a `price` signal for one product (with ratio and floor in its evidence), which
the `price_below_floor` condition then judges.
"""

from __future__ import annotations

import re
from dataclasses import replace

from livewarden.model import Signal
from livewarden.registry.schema import Registry



def attribute_price(registry: Registry, signal: Signal, on_camera: list[str]) -> Signal | None:
    """The `price` signal for the product the stated price most likely refers to, or None.

    In order: a catalog product on camera right now; a listed product named in the line; otherwise the room's
    cheapest listed product (a price below *its* floor is impossible for anything the room sells). Prices in
    another currency than the product's are not compared (no exchange rates are kept).
    """
    amount, currency = signal.evidence["amount"], signal.evidence.get("currency")
    candidates = [(pid, "on camera") for pid in on_camera]
    room = registry.room(signal.room_id)
    listed = [registry.product(listing.product) for listing in (room.listings if room else [])]
    listed = [p for p in listed if p is not None and p.msrp]
    text = signal.evidence.get("text", "").casefold()
    candidates += [(p.id, "named") for p in listed if _names(p.name, text)]
    if listed:
        candidates.append((min(listed, key=lambda p: p.msrp).id, "cheapest listed"))
    for product_id, why in candidates:
        product = registry.product(product_id)
        if product is None or not product.msrp:
            continue
        if currency is not None and currency != product.currency:
            continue
        ratio = amount / product.msrp
        floor = registry.price_floor(product_id)
        confidence = 0.5 + 0.5 * max(0.0, 1.0 - ratio / floor) if ratio < floor else 0.5 * ratio
        return replace(signal, kind="price", subject=product_id, confidence=min(1.0, confidence),
                       evidence={**signal.evidence, "msrp": product.msrp, "ratio": round(ratio, 4), "floor": floor,
                                 "product_from": why})
    return None


def _names(name: str, text: str) -> bool:
    """True when every word of a product name of 4+ letters appears in the (case-folded) line."""
    words = [w for w in re.findall(r"\w+", name.casefold()) if len(w) >= 4]
    return bool(words) and all(w in text for w in words)
