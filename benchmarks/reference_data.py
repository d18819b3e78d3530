"""Where the accuracy benchmarks find ../shared/data: `--data`, else $LIVEWARDEN_DATA, else beside the repo."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def data_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("LIVEWARDEN_DATA") or REPO.parent / "shared" / "data").resolve()


def load_labels(category: str, arg: str | None) -> tuple[Path, dict | None]:
    """The category's folder and its labels.json, or (folder, None) when the data is not there."""
    root = data_dir(arg) / category
    path = root / "labels.json"
    return root, json.loads(path.read_text()) if path.is_file() else None
