"""Load a registry YAML file and report every problem with file, line and field.

Validation runs in three passes so one run lists all problems at once:
YAML syntax, field types (pydantic), then cross-references (unknown brand,
seller or product ids, duplicate ids, images that are missing or unreadable).
Products may also come from a catalog CSV (`catalog: products.csv`); their
problems point at the CSV's line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
from pydantic import ValidationError

from livewarden.registry.catalog_csv import CatalogRows, read_catalog_csv
from livewarden.registry.located import LocatedYaml, Problem, RegistryError, field_name, read_yaml
from livewarden.registry.schema import Registry


class _Locator:
    """Where a field lives: the YAML file, or for a CSV product its row and column."""

    def __init__(self, doc: LocatedYaml, catalog: CatalogRows | None, first_csv_product: int):
        self.doc, self.catalog, self.first = doc, catalog, first_csv_product

    def __call__(self, loc: tuple, message: str) -> Problem:
        if self.catalog and len(loc) >= 2 and loc[0] == "products" and isinstance(loc[1], int) \
                and loc[1] >= self.first:
            row = loc[1] - self.first
            column = field_name(loc[2:3]) if len(loc) > 2 else ""
            return Problem(self.catalog.file, self.catalog.lines[row], f"column {column}" if column else "", message)
        return self.doc.problem(loc, message)


def load_registry(path: str | Path, *, check_images: bool = True) -> Registry:
    """Parse, validate and resolve a registry file; raise RegistryError listing all problems."""
    path = Path(path)
    doc = read_yaml(path, "registry")
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        raise RegistryError([doc.problem((), "the registry must be a mapping with brands, sellers and rooms")])

    data = _resolve_paths(data, path.parent)
    catalog, locate = None, _Locator(doc, None, 0)
    if "catalog" in data:
        catalog_path = data.pop("catalog")
        if not isinstance(catalog_path, str):
            raise RegistryError([doc.problem(("catalog",), "must be the path of a products CSV file")])
        catalog, csv_problems = read_catalog_csv(path.parent / catalog_path)
        if csv_problems:
            raise RegistryError(csv_problems)
        own = data.get("products") if isinstance(data.get("products"), list) else []
        data["products"] = list(own) + catalog.products
        locate = _Locator(doc, catalog, len(own))
    try:
        registry = Registry.model_validate(data)
    except ValidationError as exc:
        raise RegistryError([locate(tuple(e["loc"]), e["msg"]) for e in exc.errors()]) from None

    problems = _cross_check(registry, locate, check_images)
    if problems:
        raise RegistryError(problems)
    return registry


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make mark and product image paths and file sources relative to the registry file absolute.

    Anything of an unexpected shape is left as is for pydantic to report.
    """
    out = dict(data)

    def absolute(section: str, key: str) -> None:
        if isinstance(data.get(section), list):
            out[section] = [
                {**item, key: [str(base / f) if isinstance(f, str) else f for f in item[key]]}
                if isinstance(item, dict) and isinstance(item.get(key), list)
                else item
                for item in data[section]
            ]

    absolute("brands", "marks")
    absolute("products", "images")
    absolute("persons", "photos")
    absolute("broadcasts", "recordings")
    absolute("code_schemes", "issued")
    if isinstance(data.get("rooms"), list):
        out["rooms"] = [
            {**r, "source": str(base / r["source"])}
            if isinstance(r, dict) and isinstance(r.get("source"), str) and "://" not in r["source"]
            else r
            for r in data["rooms"]
        ]
    return out


def _cross_check(reg: Registry, locate: _Locator, check_images: bool) -> list[Problem]:
    problems: list[Problem] = []

    def add(loc: tuple, msg: str) -> None:
        problems.append(locate(loc, msg))

    for section in ("brands", "products", "persons", "sellers", "rooms", "broadcasts", "code_schemes"):
        seen: dict[str, int] = {}
        for i, item in enumerate(getattr(reg, section)):
            if item.id in seen:
                add((section, i, "id"), f"duplicate id {item.id!r} (first at {section}[{seen[item.id]}])")
            seen.setdefault(item.id, i)

    brand_ids = {b.id for b in reg.brands}
    seller_ids = {s.id for s in reg.sellers}
    for i, seller in enumerate(reg.sellers):
        for j, bid in enumerate(seller.authorized_brands):
            if bid not in brand_ids:
                add(("sellers", i, "authorized_brands", j), f"unknown brand {bid!r}")
    for i, product in enumerate(reg.products):
        if product.brand not in brand_ids:
            add(("products", i, "brand"), f"unknown brand {product.brand!r}")
    room_ids = {r.id for r in reg.rooms}
    for i, person in enumerate(reg.persons):
        for field, known, what in (("authorized_sellers", seller_ids, "seller"), ("authorized_rooms", room_ids, "room")):
            for j, ref in enumerate(getattr(person, field)):
                if ref not in known:
                    add(("persons", i, field, j), f"unknown {what} {ref!r}")
    product_ids = {p.id for p in reg.products}
    for i, room in enumerate(reg.rooms):
        if room.seller not in seller_ids:
            add(("rooms", i, "seller"), f"unknown seller {room.seller!r}")
        for j, listing in enumerate(room.listings):
            if listing.product not in product_ids:
                add(("rooms", i, "listings", j, "product"), f"unknown product {listing.product!r}")
    for i, broadcast in enumerate(reg.broadcasts):
        if broadcast.owner not in seller_ids:
            add(("broadcasts", i, "owner"), f"unknown seller {broadcast.owner!r}")
        for j, ref in enumerate(broadcast.authorized_sellers):
            if ref not in seller_ids:
                add(("broadcasts", i, "authorized_sellers", j), f"unknown seller {ref!r}")
        for j, ref in enumerate(broadcast.rooms):
            if ref not in room_ids:
                add(("broadcasts", i, "rooms", j), f"unknown room {ref!r}")
        if check_images:
            for j, recording in enumerate(broadcast.recordings):
                if not recording.is_file():
                    add(("broadcasts", i, "recordings", j), f"recording not found: {recording}")
                elif recording.stat().st_size == 0:
                    add(("broadcasts", i, "recordings", j), f"recording is empty: {recording}")
    gtins: dict[str, int] = {}
    for i, product in enumerate(reg.products):
        if product.gtin is not None and gtins.setdefault(product.gtin, i) != i:
            add(("products", i, "gtin"), f"GTIN {product.gtin} is also products[{gtins[product.gtin]}]'s")
    for i, scheme in enumerate(reg.code_schemes):
        if scheme.brand not in brand_ids:
            add(("code_schemes", i, "brand"), f"unknown brand {scheme.brand!r}")
        for j, issued in enumerate(scheme.issued):
            if check_images and not issued.is_file():
                add(("code_schemes", i, "issued", j), f"issued codes file not found: {issued}")
    if check_images:
        for section, attr, what in (("brands", "marks", "mark"), ("products", "images", "product"),
                                    ("persons", "photos", "reference")):
            for i, item in enumerate(getattr(reg, section)):
                for j, image in enumerate(getattr(item, attr)):
                    if not image.is_file():
                        add((section, i, attr, j), f"{what} image not found: {image}")
                    elif not cv2.haveImageReader(str(image)):  # the file's signature: the indexes decode it
                        add((section, i, attr, j), f"{what} image cannot be read as an image: {image}")
    return problems
