"""The generated rooms the runtime tests share (made once per session: writing the clips takes a while)."""

from __future__ import annotations

from pathlib import Path

import pytest

from livewarden.assets.marks import generate_mark
from livewarden.config import Settings
from livewarden.detectors.marks import MarksDetector
from livewarden.registry import Registry
from livewarden.runtime.build import System
from livewarden.testing.clips import write_clip
from livewarden.testing.scenes import room_frames

from ..conftest import write_registry

FPS = 25
MARK_ON = (2.0, 6.0)
SECONDS = 7.0


@pytest.fixture(scope="session")
def rooms(tmp_path_factory) -> Path:
    """A registry with two rooms whose clips show the NOVA card from 2 s to 6 s."""
    d = tmp_path_factory.mktemp("rooms")
    registry = write_registry(
        d,
        {
            "brands": [{"id": "nova", "name": "Nova", "marks": ["marks/nova.png"]},
                       {"id": "koru", "name": "Koru", "marks": ["marks/koru.png"]}],
            "sellers": [{"id": "nova-store", "name": "Nova Store", "authorized_brands": ["nova"]},
                        {"id": "bargain", "name": "Bargain", "authorized_brands": ["koru"]}],
            "rooms": [{"id": "official", "seller": "nova-store", "source": "official.mp4"},
                      {"id": "deals", "seller": "bargain", "source": "deals.mp4"}],
        },
        marks={"nova": ("NOVA", 11), "koru": ("KORU", 23)},
    )
    mark = generate_mark("NOVA", 11)
    for name, seed in (("official", 5), ("deals", 9)):
        write_clip(d / f"{name}.mp4", room_frames(mark, seconds=SECONDS, fps=FPS, mark_on=MARK_ON, seed=seed), FPS)
    return registry


def build(registry: Registry, data_dir: Path, **runtime) -> System:
    """The system with the marks detector, runtime settings as given (sample_fps=4.0, offline=True, ...)."""
    settings = Settings().with_overrides({f"runtime.{k}": v for k, v in runtime.items()})
    return System.of(registry, [MarksDetector.from_registry(registry)], data_dir=data_dir, settings=settings)
