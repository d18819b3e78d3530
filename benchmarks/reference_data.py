"""Where the accuracy benchmarks find ../shared/data: `--data`, else $LIVEWARDEN_DATA, else beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def data_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("LIVEWARDEN_DATA") or REPO.parent / "shared" / "data").resolve()
