"""Chat from a JSONL file, read once or tailed like ``tail -F`` (a platform bridge or a test writes it)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from livewarden.media.chat.feed import ChatFeed, OnError, OnMessage
from livewarden.media.chat.wire import MAX_LINE_BYTES

log = logging.getLogger(__name__)


class JsonlChatSource(ChatFeed):
    """Messages from a JSONL file (one message, or an array of them, per line).

    ``follow=False`` reads the file once (a last line without newline counts) and
    ends — `join()` waits for that. ``follow=True`` keeps tailing it like
    ``tail -F``: it waits for the file to appear, holds back a partial last line
    until its newline arrives, and starts over when the file is truncated or
    replaced (rotation). ``start_at_end=True`` skips what is already in the file.
    Blank lines are skipped; errors name ``path:line``.
    """

    def __init__(self, path: str | os.PathLike, on_message: OnMessage, on_error: OnError | None = None,
                 follow: bool = False, rooms: Iterable[str] | None = None, *, poll: float = 0.1,
                 start_at_end: bool = False):
        super().__init__(on_message, on_error, rooms)
        self.path = Path(path)
        self.follow = follow
        self.poll = poll
        self.start_at_end = start_at_end
        self._set(path=str(self.path), lines=0, done=False)

    def _prepare(self) -> None:
        """Without follow, a missing file raises FileNotFoundError in `start`."""
        if not self.follow and not self.path.is_file():
            raise FileNotFoundError(f"chat file not found: {self.path}")

    def _thread_name(self) -> str:
        return f"chat-jsonl:{self.path.name}"

    def _line(self, raw: bytes, lineno: int) -> None:
        self._set(lines=lineno)
        raw = raw.rstrip(b"\r")
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            return
        self._handle_text(raw, f"{self.path}:{lineno}")

    def _open(self, first: bool):
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return None
        except OSError as error:
            self._error(f"{self.path}: cannot open: {error}", count=False)
            return None
        if first and self.start_at_end:
            handle.seek(0, os.SEEK_END)
        self._set(connected=True)
        return handle

    def _run(self) -> None:
        handle = None
        buffer = b""
        lineno = 0
        skipping = False  # inside an over-long line, dropping bytes up to its newline
        opened_once = False
        try:
            while not self._stop.is_set():
                if handle is None:
                    handle = self._open(first=not opened_once)
                    if handle is None:
                        if not self.follow:
                            self._error(f"{self.path}: file disappeared", count=False)
                            return
                        self._stop.wait(self.poll)
                        continue
                    if opened_once:
                        self._count("reconnects")
                    opened_once = True
                chunk = handle.read(1 << 16)
                if chunk:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for raw in lines:
                        lineno += 1
                        if skipping:
                            skipping = False
                            continue
                        self._line(raw, lineno)
                    if len(buffer) > MAX_LINE_BYTES:  # drop it up to its newline, reported once
                        if not skipping:
                            self._error(f"{self.path}:{lineno + 1}: line longer than {MAX_LINE_BYTES} bytes, skipped")
                        buffer, skipping = b"", True
                    continue
                # at the end of what is written so far
                if not self.follow:
                    if buffer and not skipping:
                        self._line(buffer, lineno + 1)
                    return
                replaced = False
                try:
                    now = os.stat(self.path)
                    ours = os.fstat(handle.fileno())
                    if (now.st_ino, now.st_dev) != (ours.st_ino, ours.st_dev):
                        replaced = True
                    elif now.st_size < handle.tell():  # truncated in place
                        handle.seek(0)
                        buffer, lineno, skipping = b"", 0, False
                        self._count("reconnects")
                        continue
                except FileNotFoundError:
                    pass  # moved away, the new one not created yet: keep the old one until it is
                if replaced:
                    if buffer and not skipping:  # the writer moved on: its last partial line is complete
                        self._line(buffer, lineno + 1)
                    handle.close()
                    handle, buffer, lineno, skipping = None, b"", 0, False
                    self._set(connected=False)
                    continue
                self._stop.wait(self.poll)
        except Exception as error:  # never die silently
            self._error(f"{self.path}: reader failed: {type(error).__name__}: {error}", count=False)
            log.exception("chat reader %s failed", self.path)
        finally:
            if handle is not None:
                handle.close()
            self._set(connected=False, done=True)
