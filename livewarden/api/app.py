"""`create_app(platform, registry)`: the REST API, the live feed and (next) the console, on one port.

Every route is listed with its roles in `access.ACCESS` and runs `access.caller` first; objects of another
tenant are 404. Errors are JSON: {"error": {"status", "reason", "fields"?}}.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, Optional

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from starlette.concurrency import run_in_threadpool

from livewarden.api.access import PLATFORM, caller, check_table
from livewarden.api.feed import EventFeed
from livewarden.cases.events import EVENT_TYPES
from livewarden.cases.keys import create_key, list_keys, revoke_key
from livewarden.cases.notices import AnswerIn, AppealIn, CounterIn, NoticeIn, Notices
from livewarden.cases.platform import ACTIONS, Conflict, NotFound, Platform, Statement
from livewarden.config import CasesSettings
from livewarden.cases.scope import Principal
from livewarden.errors import InputError

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1 << 20  # JSON bodies; clip uploads have their own limit


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionIn(_Body):
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    statement: Statement
    alert_id: Optional[int] = None


class WebhookIn(_Body):
    url: HttpUrl
    types: list[Literal[EVENT_TYPES]] = Field(default_factory=list)  # type: ignore[valid-type]


class KeyIn(_Body):
    """A key for someone of the caller's platform team (the tenant is the caller's)."""

    role: Literal[PLATFORM]  # type: ignore[valid-type]
    name: str = Field("", max_length=128)


def _error(status: int, reason: str, fields: list[dict] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "reason": reason}
    if fields:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status)


CLOCK_EVERY_S = 5.0  # how often notice clocks (SLA, counter-notice windows) are moved


def create_app(platform: Platform, registry: Any = None, pipeline: Any = None,
               settings: CasesSettings | None = None) -> FastAPI:
    feed = EventFeed(platform)
    notices = Notices(platform, registry, settings or CasesSettings())

    async def clocks():
        while True:
            await asyncio.sleep(CLOCK_EVERY_S)
            try:
                await run_in_threadpool(notices.run_clocks)
            except Exception:  # the database busy: the next turn does it (the clocks are idempotent)
                log.exception("notice clocks")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await feed.start()
        ticking = asyncio.create_task(clocks())
        yield
        ticking.cancel()
        await feed.stop()

    app = FastAPI(title="livewarden", version="0.1", lifespan=lifespan, dependencies=[Depends(caller)],
                  description="Cases, actions, notices, the live feed and webhooks of a livewarden server. "
                              "Send an API key as `Authorization: Bearer lw_...`.")
    app.state.platform, app.state.registry, app.state.pipeline, app.state.feed = platform, registry, pipeline, feed
    app.state.notices = notices

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        response = _error(exc.status_code, str(exc.detail))
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        fields = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        return _error(422, "the request is not valid: " + "; ".join(f"{f['field']}: {f['reason']}" for f in fields),
                      fields)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return _error(404, str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict):
        return _error(409, str(exc))

    @app.exception_handler(InputError)
    async def _bad_input(request: Request, exc: InputError):
        return _error(400, str(exc))

    @app.middleware("http")
    async def _limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        return await call_next(request)

    def who(request: Request) -> Principal:
        return request.state.principal

    @app.get("/health", tags=["server"])
    def health() -> dict:
        rooms = len(pipeline.rooms) if pipeline is not None else 0
        return {"ok": True, "rooms_watched": rooms}

    @app.get("/me", tags=["server"])
    def me(request: Request) -> dict:
        p = who(request)
        return {"key_id": p.key_id, "role": p.role, "tenant": p.tenant}

    @app.get("/rooms", tags=["rooms"])
    def rooms(request: Request) -> dict:
        p, out = who(request), []
        for room in (registry.rooms if registry is not None else []):
            if not p.sees({"platform": room.platform, "seller": room.seller}):
                continue
            status = pipeline.rooms.get(room.id) if pipeline is not None else None
            item = {"id": room.id, "seller": room.seller, "platform": room.platform, "title": room.title,
                    "listings": [lst.product for lst in room.listings], "watched": status is not None}
            if status is not None:
                h = status.health
                item["health"] = {"state": h.state, "fps_in": h.fps_in, "lag_s": h.lag_s, "drops": h.drops,
                                  "analysed": status.analysed, "last_error": h.last_error}
                item["on_camera"] = sorted({s.subject for s in status.last_signals})
            out.append(item)
        return {"items": out}

    @app.get("/alerts", tags=["alerts"])
    def alerts(request: Request, room_id: Optional[str] = None, rule: Optional[str] = None,
               severity: Optional[str] = None, status: Optional[Literal["open", "closed"]] = None,
               brand: Optional[str] = None, person: Optional[str] = None, seller: Optional[str] = None,
               since: Optional[float] = None, until: Optional[float] = None, include_shadow: bool = True,
               after: int = Query(0, ge=0, description="cursor: the `next` of the previous page"),
               limit: int = Query(50, ge=1, le=500)) -> dict:
        items = platform.alerts(who(request), after=after, limit=limit, room_id=room_id, rule=rule,
                                severity=severity, status=status, brand=brand, person=person, seller=seller,
                                since=since, until=until, include_shadow=include_shadow)
        for a in items:
            a["evidence"] = [f"/alerts/{a['id']}/evidence/{i}" for i in range(len(a["evidence"]))]
        return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}

    @app.get("/alerts/{alert_id}", tags=["alerts"])
    def alert(request: Request, alert_id: int) -> dict:
        a = platform.alert(who(request), alert_id)
        a["evidence"] = [f"/alerts/{alert_id}/evidence/{i}" for i in range(len(a["evidence"]))]
        return a

    @app.get("/alerts/{alert_id}/evidence/{index}", tags=["alerts"], response_class=FileResponse)
    def evidence(request: Request, alert_id: int, index: int):
        files = platform.alert(who(request), alert_id)["evidence"]
        if not 0 <= index < len(files):
            raise NotFound(f"alert {alert_id} has no evidence file {index}")
        root = platform.store.evidence_dir.resolve()
        path = Path(files[index]).resolve()
        if root not in path.parents or not path.is_file():  # only files the store kept, under its folder
            raise NotFound(f"evidence file {index} of alert {alert_id} is gone")
        return FileResponse(path)

    @app.get("/cases", tags=["cases"])
    def cases(request: Request, status: Optional[str] = None, after: int = Query(0, ge=0),
              limit: int = Query(50, ge=1, le=500)) -> dict:
        items = platform.cases(who(request), status=status, after=after, limit=limit)
        return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}

    @app.get("/cases/{case_id}", tags=["cases"])
    def case(request: Request, case_id: int) -> dict:
        return platform.case(who(request), case_id)

    @app.get("/cases/{case_id}/timeline", tags=["cases"])
    def timeline(request: Request, case_id: int) -> dict:
        return platform.timeline(who(request), case_id)

    @app.post("/queue/claim", tags=["queue"])
    def claim(request: Request) -> dict:
        case = platform.claim_next(who(request))
        return {"case": case}

    @app.post("/cases/{case_id}/release", tags=["queue"])
    def release(request: Request, case_id: int) -> dict:
        platform.release(who(request), case_id)
        return {"released": case_id}

    @app.post("/cases/{case_id}/actions", tags=["cases"], status_code=201)
    def act(request: Request, case_id: int, body: ActionIn) -> dict:
        return platform.act(who(request), case_id, body.action, body.statement, alert_id=body.alert_id)

    @app.get("/audit/verify", tags=["audit"])
    def verify(request: Request) -> dict:
        return platform.verify_audit()

    @app.get("/aggregates", tags=["early warning"])
    def aggregates(request: Request, since: Optional[float] = None, until: Optional[float] = None,
                   bucket: Literal["hour", "day"] = "hour") -> dict:
        until = time.time() if until is None else until
        since = until - 86400 if since is None else since
        return platform.aggregates(who(request), since, until, 3600 if bucket == "hour" else 86400)

    @app.get("/metrics", tags=["server"], response_class=PlainTextResponse)
    def metrics(request: Request):
        """Prometheus metrics of what the caller may see (send the key as a bearer token from the scraper)."""
        from livewarden.api.metrics import exposition

        return PlainTextResponse(exposition(platform, pipeline, registry, who(request)),
                                 media_type="text/plain; version=0.0.4")

    @app.get("/events", tags=["live feed"], response_class=StreamingResponse)
    async def events(request: Request, after: Optional[int] = Query(None, ge=0)):
        """Server-sent events; reconnect with `Last-Event-ID` (or `?after=`) to get everything missed."""
        last = request.headers.get("last-event-id")
        if last is not None:
            if not last.strip().isdigit():
                raise HTTPException(400, "Last-Event-ID must be an event id (a number)")
            after = int(last)
        return StreamingResponse(feed.subscribe(who(request), after), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/webhooks", tags=["webhooks"])
    def webhooks(request: Request) -> dict:
        return {"items": platform.webhooks(who(request))}

    @app.post("/webhooks", tags=["webhooks"], status_code=201)
    def add_webhook(request: Request, body: WebhookIn) -> dict:
        record, secret = platform.add_webhook(who(request), str(body.url), list(body.types))
        return {**record, "secret": secret}

    @app.delete("/webhooks/{webhook_id}", tags=["webhooks"])
    def remove_webhook(request: Request, webhook_id: int) -> dict:
        platform.remove_webhook(who(request), webhook_id)
        return {"removed": webhook_id}

    @app.get("/webhooks/{webhook_id}/deliveries", tags=["webhooks"])
    def deliveries(request: Request, webhook_id: int, limit: int = Query(100, ge=1, le=1000)) -> dict:
        return {"items": platform.deliveries(who(request), webhook_id, limit)}

    @app.post("/notices", tags=["notices"], status_code=201)
    def file_notice(request: Request, body: NoticeIn) -> dict:
        """A notice (DSA Art. 16; DMCA §512(c)(3) fields optional) about the caller's own brand or person."""
        return notices.file(who(request), body)

    @app.get("/notices", tags=["notices"])
    def list_notices(request: Request, state: Optional[str] = None, limit: int = Query(100, ge=1, le=1000)) -> dict:
        return {"items": notices.list(who(request), state, limit)}

    @app.get("/notices/{notice_id}", tags=["notices"])
    def get_notice(request: Request, notice_id: int) -> dict:
        return notices.get(who(request), notice_id)

    @app.post("/notices/{notice_id}/counter", tags=["notices"])
    def counter_notice(request: Request, notice_id: int, body: CounterIn) -> dict:
        return notices.counter(who(request), notice_id, body)

    @app.post("/notices/{notice_id}/answer", tags=["notices"])
    def answer_counter(request: Request, notice_id: int, body: AnswerIn) -> dict:
        return notices.answer(who(request), notice_id, body)

    @app.post("/cases/{case_id}/appeal", tags=["cases"], status_code=201)
    def appeal(request: Request, case_id: int, body: AppealIn) -> dict:
        return notices.appeal(who(request), case_id, body)

    # a platform's admin manages its own team's keys; keys for brands, persons, sellers and regulators are the
    # server operator's (`livewarden keys create`)
    @app.get("/keys", tags=["keys"])
    def keys(request: Request) -> dict:
        mine = who(request).tenant
        return {"items": [vars(k) for k in list_keys(platform.engine) if k.tenant == mine and k.role in PLATFORM]}

    @app.post("/keys", tags=["keys"], status_code=201)
    def add_key(request: Request, body: KeyIn) -> dict:
        info, token = create_key(platform.engine, body.role, who(request).tenant, body.name)
        platform.store.append_audit(who(request).actor, "key_created", None,
                                    {"key_id": info.id, "role": info.role, "tenant": info.tenant})
        return {**vars(info), "token": token}

    @app.delete("/keys/{key_id}", tags=["keys"])
    def remove_key(request: Request, key_id: str) -> dict:
        mine = who(request).tenant
        if not any(k.id == key_id and k.tenant == mine and k.role in PLATFORM for k in list_keys(platform.engine)) \
                or not revoke_key(platform.engine, key_id):
            raise NotFound(f"no key {key_id}")
        platform.store.append_audit(who(request).actor, "key_revoked", None, {"key_id": key_id})
        return {"revoked": key_id}

    check_table(app.routes)
    return app
