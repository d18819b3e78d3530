"""HTTP chat ingest: ``POST /chat`` on a small FastAPI app served by uvicorn in a background thread.

``POST /chat`` takes one message object, a JSON array of messages, or NDJSON (one
object per line); the Content-Type is not needed. Answers:

* ``202 {"accepted": n}`` — every item was valid (``"ignored": k`` is added when
  the ``rooms`` filter dropped some);
* ``422 {"accepted": n, "errors": [{"index": i, "field": f, "reason": r}, ...]}`` —
  some items were bad; the good ones WERE delivered (``n`` of them). ``index`` is
  the 0-based item position (NDJSON errors also carry the 1-based ``line``);
  ``field`` is null when the item as a whole is wrong (not JSON, not an object);
* ``400`` — the body is not JSON/NDJSON at all (or empty); ``413`` — over 8 MiB;
* ``500`` — ``on_message`` raised for some items (they are listed like bad items).

``GET /health`` returns ``health()``. Messages are handed to ``on_message`` in
uvicorn's worker threads before the answer is sent, so a 202 means delivered.

The app is FastAPI (as DESIGN.md chose for the API) so `app` can also be mounted
into the main API later; uvicorn serves it on a socket bound up front, which makes
``port=0`` (a free port) and `url` known before `start` returns.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from livewarden.media.chat.feed import ChatFeed, OnError, OnMessage
from livewarden.media.chat.wire import ChatFormatError, DeliveryError, decode_json

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 << 20


class HttpChatIngest(ChatFeed):
    """An HTTP endpoint receiving chat: ``POST /chat``, ``GET /health`` (see the module doc)."""

    def __init__(self, on_message: OnMessage, on_error: OnError | None = None, host: str = "127.0.0.1",
                 port: int = 0, rooms: Iterable[str] | None = None):
        super().__init__(on_message, on_error, rooms)
        self.host = host
        self.port = port
        self._socket: socket.socket | None = None
        self._server = None
        self.app = self._build_app()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (the real port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # ---------------------------------------------------------------- app

    def _build_app(self):
        app = FastAPI(title="livewarden chat ingest", docs_url=None, redoc_url=None, openapi_url=None)

        @app.post("/chat")
        async def post_chat(request: Request) -> JSONResponse:
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                return JSONResponse({"accepted": 0, "errors": [
                    {"index": None, "field": None, "reason": f"body over {MAX_BODY_BYTES} bytes"}]}, 413)
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    return JSONResponse({"accepted": 0, "errors": [
                        {"index": None, "field": None, "reason": f"body over {MAX_BODY_BYTES} bytes"}]}, 413)
            status, answer = await run_in_threadpool(self.ingest_body, bytes(body))
            return JSONResponse(answer, status)

        @app.get("/health")
        async def get_health() -> dict[str, Any]:
            return self.health()

        return app

    def ingest_body(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Decode and deliver one POST body; return (HTTP status, answer). Usable without the server."""
        items, errors = _decode_body(body)
        if items is None:
            for error in errors:
                self._error(f"POST /chat: {error['reason']}")
            return 400, {"accepted": 0, "errors": errors}
        for error in errors:  # NDJSON lines that are not JSON
            self._error(f"POST /chat item {error['index']} (line {error['line']}): {error['reason']}")
        accepted = ignored = 0
        failed = False
        for index, line, item in items:
            where = f"POST /chat item {index}" + (f" (line {line})" if line else "")
            try:
                if self._deliver_item(item, where) == "delivered":
                    accepted += 1
                else:
                    ignored += 1
            except ChatFormatError as error:
                self._error(str(error))
                for field, reason in error.problems:
                    errors.append(_entry(index, line, field, reason))
            except DeliveryError as error:
                self._error(str(error))
                failed = True
                errors.append(_entry(index, line, None, error.reason))
        errors.sort(key=lambda e: e["index"])
        answer: dict[str, Any] = {"accepted": accepted}
        if ignored:
            answer["ignored"] = ignored
        if errors:
            answer["errors"] = errors
        return (500 if failed else 422 if errors else 202), answer

    # ---------------------------------------------------------------- server

    def start(self, timeout: float = 10.0) -> None:
        """Bind, serve in a background thread, and return once the server accepts requests."""
        super().start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"chat ingest did not start on {self.url}: {self.health()['last_error']}")
            time.sleep(0.01)
        self._set(connected=True, url=self.url)

    def _prepare(self) -> None:
        """Bind the socket up front: a port in use fails in `start`, and ``port=0`` becomes the real port."""
        import uvicorn

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets; with proto 0 every keep-alive
        # answer waited ~40 ms for a delayed ACK (Nagle), capping a client at ~25 requests per second
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as error:
            sock.close()
            raise OSError(f"chat ingest cannot listen on {self.host}:{self.port}: {error}") from error
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1, timeout_keep_alive=5)
        self._server = uvicorn.Server(config)

    def _thread_name(self) -> str:
        return f"chat-http:{self.port}"

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as error:  # SystemExit from uvicorn on startup failure too
            self._set(last_error=f"{type(error).__name__}: {error}")
            log.exception("chat ingest server failed")
        finally:
            self._set(connected=False)

    def _interrupt(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    def stop(self) -> None:
        """Stop accepting, finish requests in flight (≤ 1 s), close the socket."""
        super().stop(timeout=3)
        if self._server is not None and not self.join(0):  # still busy: drop the requests in flight
            self._server.force_exit = True
            self.join(2)
        if self._socket is not None:
            self._socket.close()
        self._set(connected=False)

    def __enter__(self) -> HttpChatIngest:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _entry(index: int | None, line: int | None, field: str | None, reason: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"index": index, "field": field, "reason": reason}
    if line:
        entry["line"] = line
    return entry


def _decode_body(body: bytes) -> tuple[list[tuple[int, int | None, Any]] | None, list[dict[str, Any]]]:
    """Items as (index, NDJSON line or None, decoded value), plus per-item errors; items None = unusable body."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return None, [_entry(None, None, None, f"body is not UTF-8 ({error.reason} at byte {error.start})")]
    if not text.strip():
        return None, [_entry(None, None, None, "empty body")]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as whole:
        lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
        if len(lines) < 2:
            return None, [_entry(None, None, None, f"body is not JSON ({whole.msg} at line {whole.lineno} "
                                                   f"column {whole.colno}) nor NDJSON")]
        items: list[tuple[int, int | None, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, (number, line) in enumerate(lines):
            try:
                items.append((index, number, decode_json(line)))
            except ValueError as error:
                errors.append(_entry(index, number, None, str(error)))
        return items, errors
    if isinstance(data, list):
        return [(index, None, item) for index, item in enumerate(data)], []
    return [(0, None, data)], []
