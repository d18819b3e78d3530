"""Chat ingest (being split into one module per concern; see wire.py for now)."""

from livewarden.media.chat.wire import (  # noqa: F401
    DEFAULT_ROLE,
    ChatFormatError,
    ChatSource,
    DeliveryError,
    JsonlChatSource,
    WebsocketChatSource,
    __all__,
    __getattr__,
    parse_message,
    parse_time,
)
