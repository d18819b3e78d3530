"""Bulk catalog import: a CSV of products plus a folder of images.

Columns: id, brand, name, images (paths relative to the CSV's folder,
separated by `;`), msrp, currency. Rows become product entries of the
registry; every problem in a row is reported as `file:line: column`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from livewarden.registry.located import Problem

COLUMNS = ("id", "brand", "name", "images", "msrp", "currency")
REQUIRED = ("id", "brand", "name", "images")


@dataclass(frozen=True)
class CatalogRows:
    products: list[dict]  # raw product dicts, images already absolute
    lines: list[int]  # the CSV line of each product
    file: str


def read_catalog_csv(path: Path) -> tuple[CatalogRows, list[Problem]]:
    """Read rows; problems of the file's shape (missing file, columns) come back, field checks are pydantic's."""
    file = str(path)
    if not path.is_file():
        return CatalogRows([], [], file), [Problem(file, None, "", "catalog CSV not found")]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return CatalogRows([], [], file), [Problem(file, None, "", f"cannot read the catalog CSV: {exc}")]
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c and c not in COLUMNS]
    problems = []
    if missing:
        problems.append(Problem(file, 1, "", f"missing column(s): {', '.join(missing)} (columns: {', '.join(COLUMNS)})"))
    if unknown:
        problems.append(Problem(file, 1, "", f"unknown column(s): {', '.join(unknown)} (columns: {', '.join(COLUMNS)})"))
    if problems:
        return CatalogRows([], [], file), problems
    products, lines = [], []
    base = path.parent
    for row in reader:
        line = reader.line_num
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
        if not any(row.values()):
            continue  # blank line
        product: dict = {k: row[k] for k in ("id", "brand", "name") if row.get(k)}
        images = [p.strip() for p in row.get("images", "").split(";") if p.strip()]
        product["images"] = [str(base / p) for p in images]
        if row.get("msrp"):
            product["msrp"] = row["msrp"]
        if row.get("currency"):
            product["currency"] = row["currency"]
        products.append(product)
        lines.append(line)
    return CatalogRows(products, lines, file), []
