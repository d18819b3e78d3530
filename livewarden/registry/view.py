"""What of the registry a caller may see (`GET /registry`).

A platform's team and its regulator see the rooms and sellers of their platform and the reference catalog
(brands, products, protected persons); a brand sees itself, its products and the sellers it authorized; a
person sees their own entry; a seller sees itself, its rooms with their listings and the brands it may sell.
Image files are named, not located: the server's paths are its own business.
"""

from __future__ import annotations

from typing import Any

from livewarden.cases.scope import EVERY_PLATFORM, PLATFORM_ROLES, Principal
from livewarden.registry.schema import Registry


def _brand(b) -> dict[str, Any]:
    return {"id": b.id, "name": b.name, "marks": [p.name for p in b.marks], "price_floor": b.price_floor}


def _product(p) -> dict[str, Any]:
    return {"id": p.id, "brand": p.brand, "name": p.name, "images": [i.name for i in p.images], "msrp": p.msrp,
            "currency": p.currency}


def _person(p, sellers: set[str] | None = None, rooms: set[str] | None = None) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "photos": [i.name for i in p.photos],
            "authorized_sellers": [s for s in p.authorized_sellers if sellers is None or s in sellers],
            "authorized_rooms": [r for r in p.authorized_rooms if rooms is None or r in rooms]}


def _room(r) -> dict[str, Any]:
    return {"id": r.id, "seller": r.seller, "platform": r.platform, "title": r.title,
            "listings": [lst.model_dump() for lst in r.listings]}


def _seller(s) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "authorized_brands": list(s.authorized_brands)}


def visible_registry(registry: Registry, who: Principal) -> dict[str, Any]:
    """The parts of `registry` `who` may see, as JSON-ready dicts."""
    if who.role in PLATFORM_ROLES or who.role == "regulator":
        every = who.role == "regulator" and who.tenant == EVERY_PLATFORM
        rooms = [r for r in registry.rooms if every or r.platform == who.tenant]
        sellers = {r.seller for r in rooms}
        room_ids = {r.id for r in rooms}
        return {"brands": [_brand(b) for b in registry.brands], "products": [_product(p) for p in registry.products],
                "persons": [_person(p, sellers, room_ids) for p in registry.persons],
                "sellers": [_seller(s) for s in registry.sellers if s.id in sellers],
                "rooms": [_room(r) for r in rooms]}
    if who.role == "brand":
        return {"brands": [_brand(b) for b in registry.brands if b.id == who.tenant],
                "products": [_product(p) for p in registry.products if p.brand == who.tenant],
                "persons": [], "rooms": [],
                "sellers": [{"id": s.id, "name": s.name} for s in registry.sellers
                            if who.tenant in s.authorized_brands]}
    if who.role == "person":
        return {"brands": [], "products": [], "sellers": [], "rooms": [],
                "persons": [_person(p) for p in registry.persons if p.id == who.tenant]}
    if who.role == "seller":
        rooms = [r for r in registry.rooms if r.seller == who.tenant]
        sellers = [s for s in registry.sellers if s.id == who.tenant]
        brands = {b for s in sellers for b in s.authorized_brands}
        listed = {lst.product for r in rooms for lst in r.listings}
        return {"brands": [_brand(b) for b in registry.brands if b.id in brands],
                "products": [_product(p) for p in registry.products if p.id in listed],
                "persons": [], "sellers": [_seller(s) for s in sellers], "rooms": [_room(r) for r in rooms]}
    return {"brands": [], "products": [], "persons": [], "sellers": [], "rooms": []}
