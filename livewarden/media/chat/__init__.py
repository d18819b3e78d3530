"""Chat ingest: a room's live chat as `ChatMessage`s, from a JSONL file, a websocket or HTTP.

One concept per module, so a feed imports only what it needs:

* `wire`      the wire format: parsing and validation, `ChatFormatError`, `DeliveryError`;
* `feed`      what the feeds share: thread, rooms filter, counters, delivery (`ChatFeed`, `ChatSource`);
* `jsonl`     `JsonlChatSource`, a file read once or tailed;
* `websocket` `WebsocketChatSource`, reconnecting with `livewarden.media.backoff`;
* `http`      `HttpChatIngest`, ``POST /chat`` (FastAPI + uvicorn).

The names are all importable from here; `WebsocketChatSource` and `HttpChatIngest`
are loaded on first use, so ``import livewarden.media.chat`` (or its `jsonl` feed)
does not pull in FastAPI, uvicorn, websockets or the video stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from livewarden.media.chat.feed import ChatFeed, ChatSource, OnError, OnMessage
from livewarden.media.chat.jsonl import JsonlChatSource
from livewarden.media.chat.wire import (
    DEFAULT_ROLE,
    FEED_SOURCES,
    MAX_LINE_BYTES,
    ChatFormatError,
    DeliveryError,
    decode_frame,
    parse_message,
    parse_time,
)

if TYPE_CHECKING:
    from livewarden.media.chat.http import HttpChatIngest
    from livewarden.media.chat.websocket import WebsocketChatSource

_LAZY = {"HttpChatIngest": "livewarden.media.chat.http", "WebsocketChatSource": "livewarden.media.chat.websocket"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value  # once loaded, an ordinary attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_ROLE", "FEED_SOURCES", "MAX_LINE_BYTES", "ChatFeed", "ChatFormatError", "ChatSource",
           "DeliveryError", "HttpChatIngest", "JsonlChatSource", "OnError", "OnMessage", "WebsocketChatSource",
           "decode_frame", "parse_message", "parse_time"]
