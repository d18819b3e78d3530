"""The package's shape: no import cycle, the file feed without the web stack, every public name from the top."""

from __future__ import annotations

import subprocess
import sys

import pytest

import livewarden.media.chat as chat

MODULES = ["livewarden.media.chat", "livewarden.media.chat.wire", "livewarden.media.chat.feed",
           "livewarden.media.chat.jsonl", "livewarden.media.chat.websocket", "livewarden.media.chat.http",
           "livewarden.media.backoff"]
#: What the light modules must not load: the HTTP stack, the websocket client, the video decoder.
HEAVY = ["fastapi", "uvicorn", "starlette", "websockets", "av"]
LIGHT = {"livewarden.media.chat", "livewarden.media.chat.wire", "livewarden.media.chat.feed",
         "livewarden.media.chat.jsonl", "livewarden.media.backoff"}


def imported_after(module: str) -> set[str]:
    """Top-level names in sys.modules after importing `module` first thing in a fresh interpreter."""
    code = f"import sys, {module}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"importing {module} first failed:\n{done.stderr}"
    return set(done.stdout.split())


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_first_without_a_cycle_and_light_ones_stay_light(module):
    loaded = imported_after(module)
    if module in LIGHT:
        assert not loaded & set(HEAVY), f"{module} pulled in {sorted(loaded & set(HEAVY))}"


def test_the_package_names_every_public_name_and_loads_the_heavy_feeds_on_use():
    from livewarden.media.chat.http import HttpChatIngest
    from livewarden.media.chat.websocket import WebsocketChatSource

    assert chat.HttpChatIngest is HttpChatIngest and chat.WebsocketChatSource is WebsocketChatSource
    assert all(hasattr(chat, name) for name in chat.__all__)
    with pytest.raises(AttributeError, match="no_such_name"):
        chat.no_such_name  # noqa: B018
