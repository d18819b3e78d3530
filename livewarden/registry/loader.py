"""Load a registry YAML file and report every problem with file, line and field.

Validation runs in three passes so one run lists all problems at once:
YAML syntax, field types (pydantic), then cross-references (unknown brand or
seller ids, duplicate ids, mark images that are missing or unreadable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
from pydantic import ValidationError

from livewarden.registry.located import LocatedYaml, Problem, RegistryError, read_yaml
from livewarden.registry.schema import Registry


def load_registry(path: str | Path, *, check_images: bool = True) -> Registry:
    """Parse, validate and resolve a registry file; raise RegistryError listing all problems."""
    path = Path(path)
    doc = read_yaml(path, "registry")
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        raise RegistryError([doc.problem((), "the registry must be a mapping with brands, sellers and rooms")])

    data = _resolve_paths(data, path.parent)
    try:
        registry = Registry.model_validate(data)
    except ValidationError as exc:
        raise RegistryError(doc.validation_problems(exc)) from None

    problems = _cross_check(registry, doc, check_images)
    if problems:
        raise RegistryError(problems)
    return registry


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make mark paths and file sources relative to the registry file absolute.

    Anything of an unexpected shape is left as is for pydantic to report.
    """
    out = dict(data)
    if isinstance(data.get("brands"), list):
        out["brands"] = [
            {**b, "marks": [str(base / m) if isinstance(m, str) else m for m in b["marks"]]}
            if isinstance(b, dict) and isinstance(b.get("marks"), list)
            else b
            for b in data["brands"]
        ]
    if isinstance(data.get("rooms"), list):
        out["rooms"] = [
            {**r, "source": str(base / r["source"])}
            if isinstance(r, dict) and isinstance(r.get("source"), str) and "://" not in r["source"]
            else r
            for r in data["rooms"]
        ]
    return out


def _cross_check(reg: Registry, doc: LocatedYaml, check_images: bool) -> list[Problem]:
    problems: list[Problem] = []

    def add(loc: tuple, msg: str) -> None:
        problems.append(doc.problem(loc, msg))

    for section in ("brands", "sellers", "rooms"):
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
    for i, room in enumerate(reg.rooms):
        if room.seller not in seller_ids:
            add(("rooms", i, "seller"), f"unknown seller {room.seller!r}")
    if check_images:
        for i, brand in enumerate(reg.brands):
            for j, mark in enumerate(brand.marks):
                if not mark.is_file():
                    add(("brands", i, "marks", j), f"mark image not found: {mark}")
                elif cv2.imread(str(mark)) is None:
                    add(("brands", i, "marks", j), f"mark image cannot be read as an image: {mark}")
    return problems
