"""`create_app(platform, registry)`: the REST API, the live feed and (next) the console, on one port.

Every route is listed with its roles in `access.ACCESS` and runs `access.caller` first; objects of another
tenant are 404. Errors are JSON: {"error": {"status", "reason", "fields"?}}.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import shutil
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as Path_
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field, HttpUrl, TypeAdapter
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livewarden.api.access import PLATFORM, KeyCheck, caller, check_table, document
from livewarden.api.feed import EventFeed
from livewarden.cases import db
from livewarden.cases.events import EVENT_TYPES
from livewarden.cases.evidence import kept_file
from livewarden.cases.keys import create_key, list_keys, revoke_key
from livewarden.cases.notices import AnswerIn, AppealIn, CounterIn, NoticeIn, Notices
from livewarden.cases.platform import (ACTIONS, EXPORT_COLUMNS, MAX_ID, NO_NUL, Bare, Conflict, Id, Input, Int, NotFound,
                                       Platform, Statement)
from livewarden.config import ApiSettings, CasesSettings
from livewarden.cases.scope import Principal, room_scope
from livewarden.errors import InputError, RegistryError
from livewarden.registry.schema import ID_PATTERN
from livewarden.registry.view import visible_registry
from livewarden.runtime.rooms_view import LocalRooms
from livewarden.api.verify import mount_verification
from livewarden.web.console import mount_console

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1 << 20  # JSON bodies; clip uploads have their own limit



class ActionIn(Input):
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    statement: Statement
    alert_id: Optional[Id] = None


class WebhookIn(Input):
    url: HttpUrl
    types: list[Literal[EVENT_TYPES]] = Field(default_factory=list)  # type: ignore[valid-type]


class KeyIn(Input):
    """A key for someone of the caller's platform team (the tenant is the caller's)."""

    role: Literal[PLATFORM]  # type: ignore[valid-type]
    name: str = Field("", max_length=128)


class FieldError(BaseModel):
    field: str = Field(description="where: e.g. body.statement.facts, query.limit, path.case_id")
    reason: str


class ErrorDetail(BaseModel):
    status: int
    reason: str
    fields: Optional[list[FieldError]] = Field(None, description="for invalid input: each field at fault")


class ErrorBody(BaseModel):
    """Every error of the API."""

    error: ErrorDetail


ERRORS = {400: "the request could not be read (a body that is not what the route takes, a NUL character)", 404: "no such object, or one the caller may not see",
          409: "the object is not in a state that allows this", 413: f"the body is over {MAX_BODY_BYTES} bytes",
          422: "the request is not valid: `fields` names each part at fault",
          429: "too many requests from this client: `Retry-After` says when to try again"}
# 401 and 403 are the access table's: `access.document` declares them


_ANY = TypeAdapter(Any)


def _json(payload: Any) -> Response:
    """The body made by pydantic-core in one pass: FastAPI's own path for a returned dict walks it in Python
    first (a page of 50 alerts: server CPU 6-7.7 ms before, 5 ms after)."""
    return Response(_ANY.dump_json(payload), media_type="application/json")


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses of a route, for the spec."""
    return {status: {"model": ErrorBody, "description": ERRORS[status]} for status in statuses}


def _error(status: int, reason: str, fields: list[dict] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "reason": reason}
    if fields:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status)


class _LimitBody:
    """A NUL character in the path or query is refused (400); bodies over MAX_BODY_BYTES (an uploaded clip: `upload_bytes`) are refused (413), whether declared
    (Content-Length) or streamed (chunked)."""

    def __init__(self, app: ASGIApp, upload_bytes: int = MAX_BODY_BYTES):
        self.app, self.upload_bytes = app, upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):  # no store can hold one
            return await _error(400, "the request's path or query contains a NUL character")(scope, receive, send)
        limit = self.upload_bytes if (scope["method"], scope["path"]) == ("POST", "/scans") else MAX_BODY_BYTES
        too_large = f"the body is larger than {limit} bytes"
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _error(413, too_large)(scope, receive, send)
        read = 0

        async def limited() -> Message:
            nonlocal read
            message = await receive()
            read += len(message.get("body", b""))
            if read > limit:  # the route reading the body passes it on: the JSON error
                raise HTTPException(413, too_large)
            return message

        await self.app(scope, limited, send)


CLOCK_EVERY_S = 5.0  # how often notice clocks (SLA, counter-notice windows) are moved


HEALTH_EVERY_S = 1.0  # how often the rooms' health is looked at (a change is an event)


def create_app(platform: Platform, registry: Any = None, pipeline: Any = None,
               settings: CasesSettings | None = None, scans: Any = None,
               worker_threads: int | None = None, reload: Any = None, codes: Any = None,
               verify_limit: str = "20/minute", rooms: Any = None) -> FastAPI:
    """The app over `platform`; `rooms` (a runtime.rooms_view: this process's `pipeline` by default, or the room
    board of rooms watched elsewhere) gives /rooms their health, `scans` (a
    runtime.scan_jobs.ScanJobs) takes sellers' self-check uploads, `reload` (a runtime.reload.RegistryReload)
    applies a changed registry file, `codes` (a registry.issued.IssuedCodes) answers the buyers' verification page.
    The registry in force is `app.state.registry` (a reload replaces it)."""
    feed = EventFeed(platform)
    notices = Notices(platform, registry, settings or CasesSettings())
    if rooms is None and pipeline is not None:
        rooms = LocalRooms(pipeline)

    def room_views() -> dict[str, dict]:
        """room -> its view, for every room of the registry in force that is watched (here or elsewhere), or was
        lately (`"watched": False`: its worker stopped or was lost)."""
        registry = app.state.registry
        if rooms is None or registry is None:
            return {}
        return rooms.views([room.id for room in registry.rooms])

    async def health_changes():
        last: dict[str, str] = {}
        while rooms is not None:
            await asyncio.sleep(HEALTH_EVERY_S)
            try:
                for room_id, view in (await run_in_threadpool(room_views)).items():
                    state = view["health"]["state"]
                    if last.get(room_id) != state:
                        last[room_id] = state
                        registry = app.state.registry
                        scope = room_scope(registry.room(room_id) if registry is not None else None)
                        await run_in_threadpool(platform.announce_health, scope, {
                            "room_id": room_id, "state": state, "last_error": view["health"]["last_error"]})
            except Exception:
                log.exception("room health events")

    async def clocks():
        while True:
            await asyncio.sleep(CLOCK_EVERY_S)
            try:
                await run_in_threadpool(notices.run_clocks)
            except Exception:  # the database busy: the next turn does it (the clocks are idempotent)
                log.exception("notice clocks")

    async def statistics():
        while True:
            try:
                await run_in_threadpool(db.refresh_statistics, platform.engine)
            except Exception:  # the database busy: the next turn does it
                log.exception("database statistics")
            await asyncio.sleep(db.STATISTICS_EVERY_S)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = worker_threads or ApiSettings().worker_threads
        await feed.start()
        ticking = [asyncio.create_task(clocks()), asyncio.create_task(health_changes()),
                   asyncio.create_task(statistics())]
        yield
        for task in ticking:
            task.cancel()
        await feed.stop()

    app = FastAPI(title="livewarden", version="0.1", lifespan=lifespan, dependencies=[Depends(caller)],
                  responses=_errors(400, 413),
                  description="Cases, actions, notices, the live feed and webhooks of a livewarden server. "
                              "Send an API key as `Authorization: Bearer lw_...`. Every error is JSON: "
                              '`{"error": {"status", "reason", "fields"?}}`.')
    app.state.platform, app.state.registry, app.state.pipeline, app.state.feed = platform, registry, pipeline, feed
    app.state.notices = notices
    app.state.key_check = KeyCheck(platform.engine)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's, and the router's (no such path, method)
    async def _http(request: Request, exc: StarletteHTTPException):
        response = _error(exc.status_code, str(exc.detail))
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        if exc.status_code == 405:  # the router names the methods of the first route of the path: all of them
            response.headers["Allow"] = ", ".join(sorted(
                {m for r in app.router.routes if r.matches(request.scope)[0] != Match.NONE
                 for m in getattr(r, "methods", None) or ()}))
        return response

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):  # a bug: still a JSON error (the server logs it)
        return _error(500, "internal server error")

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError):
        reason = db.unreachable(exc)
        if reason is None:
            return _error(500, "internal server error")
        # the case database is down or restarting: nothing was done; say so, and when to try again
        response = _error(503, f"the case database is unavailable ({reason}); nothing was changed, try again")
        response.headers["Retry-After"] = "2"
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

    app.add_middleware(_LimitBody, upload_bytes=scans.max_upload_bytes if scans is not None else MAX_BODY_BYTES)

    def who(request: Request) -> Principal:
        return request.state.principal

    @app.get("/health", tags=["server"])
    def health() -> dict:
        return {"ok": True, "rooms_watched": sum(v.get("watched", True) for v in room_views().values())}

    @app.get("/me", tags=["server"])
    def me(request: Request) -> dict:
        p = who(request)
        return {"key_id": p.key_id, "role": p.role, "tenant": p.tenant}

    @app.get("/rooms", tags=["rooms"])
    def rooms_list(request: Request) -> dict:
        """Every room the caller may see; a watched one with its health, what is on camera, when its thumbnail
        was taken and, for a room watched elsewhere, its worker and its last move (`off_air_s`)."""
        p, out = who(request), []
        registry = app.state.registry
        views = room_views()
        for room in (registry.rooms if registry is not None else []):
            if not p.sees(room_scope(room)):
                continue
            view = views.get(room.id)
            item = {"id": room.id, "seller": room.seller, "platform": room.platform, "title": room.title,
                    "listings": [lst.product for lst in room.listings], "watched": view is not None}
            if view is not None:  # a room lately watched elsewhere says so (`watched` False, state lost or stopped)
                item |= {k: v for k, v in view.items() if k not in ("posted_at", "last_frame_wall")}
            out.append(item)
        return {"items": out}

    def watched_room(request: Request, room_id: str) -> None:
        """404 unless the caller may see the room and it is watched (here or elsewhere)."""
        registry = app.state.registry
        room = registry.room(room_id) if registry is not None else None
        if room is None or rooms is None or not who(request).sees(room_scope(room)) or not rooms.views([room_id]):
            raise NotFound(f"no watched room {room_id}")

    @app.get("/rooms/{room_id}/broadcast", tags=["rooms"], responses=_errors(404, 422))
    def room_broadcast(request: Request, room_id: str = Path_(pattern=ID_PATTERN)) -> dict:
        """What the room has shown so far on its stream clock: each subject's span on camera, what was said,
        shown and typed (flagged terms with their spans), and its alerts' stream times."""
        watched_room(request, room_id)
        broadcast = rooms.broadcast(room_id)
        if broadcast is None:
            raise NotFound(f"room {room_id} is watched on another machine: its broadcast comes from the policy "
                           "process that decides it, asked for it now; ask again in a second")
        alerts = platform.alerts(who(request), room_id=room_id, limit=500)
        return _json({"room_id": room_id, **broadcast,
                      "alerts": [{k: a[k] for k in ("id", "rule", "subject", "severity", "status",
                                                     "first_stream_time", "last_stream_time", "message")}
                                 for a in alerts]})

    @app.get("/rooms/{room_id}/thumbnail", tags=["rooms"], response_class=Response,
             responses={200: {"description": "a small JPEG of a recently analysed frame",
                              "content": {"image/jpeg": {}}}, **_errors(404, 422)})
    def room_thumbnail(request: Request, room_id: str = Path_(pattern=ID_PATTERN)):
        """What the room showed about a second ago (its `thumbnail_at` in `GET /rooms` says when)."""
        watched_room(request, room_id)
        thumbnail = rooms.thumbnail(room_id)
        if not thumbnail:
            raise NotFound(f"no picture of room {room_id} yet")
        return Response(thumbnail, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/registry", tags=["registry"])
    def registry_view(request: Request) -> dict:
        """What of the registry in force the caller may see, and which file version it is (its SHA-256)."""
        registry = app.state.registry
        version = {"sha256": reload.digest, "loaded_at": reload.loaded_at} if reload is not None else {}
        return {**version, **(visible_registry(registry, who(request)) if registry is not None else {})}

    @app.get("/registry/{section}/{entry_id}/images/{index}", tags=["registry"], response_class=FileResponse,
             responses={200: {"description": "the reference image", "content": {"image/*": {}}}, **_errors(404, 422)})
    def reference_image(request: Request, section: Literal["brands", "products", "persons"],
                        entry_id: Annotated[str, Path_(pattern=ID_PATTERN)],
                        index: Annotated[int, Path_(ge=0, le=999), Bare]):
        """A brand's mark, a product's pack shot or a protected person's reference photo, for a caller who
        sees that entry in `GET /registry` (the console shows it beside the evidence)."""
        registry = app.state.registry
        visible = visible_registry(registry, who(request))[section] if registry is not None else []
        if not any(e["id"] == entry_id for e in visible):
            raise NotFound(f"no {section[:-1]} {entry_id}")
        entry = {"brands": registry.brand, "products": registry.product, "persons": registry.person}[section](entry_id)
        files = {"brands": "marks", "products": "images", "persons": "photos"}[section]
        paths = getattr(entry, files)
        if index >= len(paths) or not Path(paths[index]).is_file():
            raise NotFound(f"{section[:-1]} {entry_id} has no image {index}")
        return FileResponse(paths[index])

    @app.post("/registry/reload", tags=["registry"], responses=_errors(409))
    def registry_reload(request: Request) -> dict:
        """Re-read the registry file the server was started from and apply it, rooms staying live: new rooms
        start, removed ones stop, the policy and every caller's scope follow the file. A file with a problem
        changes nothing (409, each problem with its file and line)."""
        if reload is None:
            raise Conflict("this server was not started from a registry file: nothing to reload")
        try:
            summary = reload()
        except RegistryError as exc:
            return _error(409, f"the registry file has {len(exc.problems)} problem(s); nothing changed",
                          [{"field": f"{p.file}:{p.line}" if p.line else p.file,
                            "reason": f"{p.field}: {p.message}" if p.field else p.message} for p in exc.problems])
        app.state.registry = notices.registry = reload.registry
        platform.store.append_audit(who(request).actor, "registry_reloaded", None, summary)
        return summary

    @app.get("/alerts", tags=["alerts"], responses=_errors(422),
             description="A page of the alerts the caller may see, oldest first; each without its `signals` "
                         "(`GET /alerts/{id}` has them). Follow `next` as `after` for the next page.")
    def alerts(request: Request, room_id: Optional[str] = Query(None, pattern=NO_NUL),
               rule: Optional[str] = Query(None, pattern=NO_NUL), severity: Optional[str] = Query(None, pattern=NO_NUL),
               status: Optional[Literal["open", "closed"]] = None, brand: Optional[str] = Query(None, pattern=NO_NUL),
               person: Optional[str] = Query(None, pattern=NO_NUL), seller: Optional[str] = Query(None, pattern=NO_NUL),
               since: Annotated[Optional[float], Query(allow_inf_nan=False), Bare] = None,
               until: Annotated[Optional[float], Query(allow_inf_nan=False), Bare] = None, include_shadow: bool = True,
               after: Annotated[int, Query(ge=0, le=MAX_ID, description="cursor: the `next` of the previous page"), Bare] = 0,
               limit: Annotated[int, Query(ge=1, le=500), Bare] = 50) -> dict:
        items = platform.alerts(who(request), after=after, limit=limit, room_id=room_id, rule=rule,
                                severity=severity, status=status, brand=brand, person=person, seller=seller,
                                since=since, until=until, include_shadow=include_shadow)
        for a in items:
            a["evidence"] = [f"/alerts/{a['id']}/evidence/{i}" for i in range(len(a["evidence"]))]
        return _json({"items": items, "next": items[-1]["id"] if len(items) == limit else None})

    @app.get("/alerts/{alert_id}", tags=["alerts"], responses=_errors(404, 422))
    def alert(request: Request, alert_id: Id) -> dict:
        a = platform.alert(who(request), alert_id)
        a["evidence"] = [f"/alerts/{alert_id}/evidence/{i}" for i in range(len(a["evidence"]))]
        return _json(a)

    @app.get("/alerts/{alert_id}/evidence/{index}", tags=["alerts"], response_class=FileResponse,
             responses={200: {"description": "the file: an image, or JSON (text evidence)",
                              "content": {"image/*": {}, "application/json": {}}}, **_errors(404, 422)})
    def evidence(request: Request, alert_id: Id, index: Int):
        files = platform.alert(who(request), alert_id)["evidence"]
        if not 0 <= index < len(files):
            raise NotFound(f"alert {alert_id} has no evidence file {index}")
        path = kept_file(platform.store.evidence_dir, files[index])
        if path is None:
            raise NotFound(f"evidence file {index} of alert {alert_id} is gone")
        return FileResponse(path)

    @app.get("/cases", tags=["cases"], responses=_errors(422))
    def cases(request: Request, status: Optional[str] = Query(None, pattern=NO_NUL), after: Annotated[int, Query(ge=0, le=MAX_ID), Bare] = 0,
              limit: Annotated[int, Query(ge=1, le=500), Bare] = 50) -> dict:
        items = platform.cases(who(request), status=status, after=after, limit=limit)
        return _json({"items": items, "next": items[-1]["id"] if len(items) == limit else None})

    @app.get("/cases/{case_id}", tags=["cases"], responses=_errors(404, 422))
    def case(request: Request, case_id: Id) -> dict:
        return _json(platform.case(who(request), case_id))

    @app.get("/cases/{case_id}/timeline", tags=["cases"], responses=_errors(404, 422))
    def timeline(request: Request, case_id: Id) -> dict:
        return _json(platform.timeline(who(request), case_id))

    @app.post("/queue/claim", tags=["queue"])
    def claim(request: Request) -> dict:
        case = platform.claim_next(who(request))
        return {"case": case}

    @app.post("/cases/{case_id}/release", tags=["queue"], responses=_errors(404, 422))
    def release(request: Request, case_id: Id) -> dict:
        platform.release(who(request), case_id)
        return {"released": case_id}

    @app.post("/cases/{case_id}/actions", tags=["cases"], status_code=201, responses=_errors(400, 404, 409, 422))
    def act(request: Request, case_id: Id, body: ActionIn) -> dict:
        return platform.act(who(request), case_id, body.action, body.statement, alert_id=body.alert_id)

    @app.get("/audit/verify", tags=["audit"])
    def verify(request: Request) -> dict:
        return platform.verify_audit()

    @app.get("/aggregates", tags=["early warning"], responses=_errors(422))
    def aggregates(request: Request, since: Annotated[Optional[float], Query(allow_inf_nan=False), Bare] = None,
                   until: Annotated[Optional[float], Query(allow_inf_nan=False), Bare] = None,
                   bucket: Literal["hour", "day"] = "hour") -> dict:
        until = time.time() if until is None else until
        since = until - 86400 if since is None else since
        return platform.aggregates(who(request), since, until, 3600 if bucket == "hour" else 86400)

    @app.get("/export", tags=["early warning"], responses={
        200: {"description": "the alerts as CSV or JSON", "content": {"text/csv": {}, "application/json": {}}},
        **_errors(422)})
    def export(request: Request, since: Annotated[Optional[float], Query(allow_inf_nan=False), Bare] = None,
               until: Annotated[Optional[float], Query(allow_inf_nan=False), Bare] = None, format: Literal["csv", "json"] = "csv"):
        """Every alert the caller may see opened in [since, until) (default: the last 24 h), for a regulator's
        own analysis: one row per alert with its scope, rule, severity, times and case."""
        until = time.time() if until is None else until
        since = until - 86400 if since is None else since
        rows = platform.export(who(request), since, until)
        if format == "json":
            return JSONResponse({"since": since, "until": until, "items": rows})
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="livewarden-alerts.csv"'})

    @app.post("/scans", tags=["self-check"], status_code=202,
              openapi_extra={"requestBody": {"required": True, "description": "the clip's bytes (any type)",
                                             "content": {"application/octet-stream": {
                                                 "schema": {"type": "string", "format": "binary"}}}}},
              responses=_errors(400, 404, 422))
    async def submit_scan(request: Request, room_id: str = Query(min_length=1, max_length=64, pattern=NO_NUL,
                                                                 description="one of the seller's rooms")) -> dict:
        """Upload a clip (the raw bytes as the body) to be scanned as one of the caller's rooms; follow it at
        `GET /scans/{id}`: the report is the one `livewarden scan` writes. Nothing is filed on the platform."""
        p = who(request)
        registry = app.state.registry
        room = registry.room(room_id) if registry is not None else None
        if scans is None or room is None or room.seller != p.tenant:
            raise NotFound(f"no room {room_id} of seller {p.tenant}")
        folder = scans.new_upload()
        clip = folder / "clip"
        with clip.open("wb") as f:
            async for chunk in request.stream():
                f.write(chunk)
        if clip.stat().st_size == 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise InputError("the body is empty: send the clip's bytes (curl --data-binary @clip.mp4)")
        job = await run_in_threadpool(scans.submit, (p.role, p.tenant), room_id, clip)
        return job.to_dict()

    @app.get("/scans/{scan_id}", tags=["self-check"], responses=_errors(404, 422))
    def scan_status(request: Request, scan_id: str = Path_(pattern=r"^[0-9a-f]{16}$")) -> dict:
        p = who(request)
        job = scans.jobs.get(scan_id) if scans is not None else None
        if job is None or job.owner != (p.role, p.tenant):
            raise NotFound(f"no scan {scan_id}")
        return job.to_dict()

    @app.get("/scans/{scan_id}/findings/{finding}/evidence/{index}", tags=["self-check"],
             response_class=FileResponse, responses={200: {"description": "the file: an image, or JSON (text evidence)",
                                                          "content": {"image/*": {}, "application/json": {}}},
                                                     **_errors(404, 422)})
    def scan_evidence(request: Request, finding: Int, index: Int, scan_id: str = Path_(pattern=r"^[0-9a-f]{16}$")):
        """One evidence file of one finding of a finished scan (its crop, frame or words), for the report page."""
        p = who(request)
        job = scans.jobs.get(scan_id) if scans is not None else None
        if job is None or job.owner != (p.role, p.tenant):
            raise NotFound(f"no scan {scan_id}")
        path = job.evidence_file(finding, index)
        if path is None:
            raise NotFound(f"scan {scan_id} has no evidence file {index} of finding {finding}")
        return FileResponse(path)

    @app.get("/metrics", tags=["server"], response_class=PlainTextResponse)
    def metrics(request: Request):
        """Prometheus metrics of what the caller may see (send the key as a bearer token from the scraper)."""
        from livewarden.api.metrics import exposition

        return PlainTextResponse(exposition(platform, pipeline, room_views(), app.state.registry, who(request)),
                                 media_type="text/plain; version=0.0.4")

    @app.get("/events", tags=["live feed"], response_class=StreamingResponse,
             responses={200: {"description": "server-sent events", "content": {"text/event-stream": {}}},
                        **_errors(400, 422)})
    async def events(request: Request, after: Annotated[Optional[int], Query(ge=0, le=MAX_ID), Bare] = None):
        """Server-sent events; reconnect with `Last-Event-ID` (or `?after=`) to get everything missed."""
        last = request.headers.get("last-event-id")
        if last is not None:
            last = last.strip()
            if not (last.isascii() and last.isdigit()) or int(last) > MAX_ID:
                raise HTTPException(400, "Last-Event-ID must be an event id (a number)")
            after = int(last)
        return StreamingResponse(feed.subscribe(who(request), after), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/webhooks", tags=["webhooks"])
    def webhooks(request: Request) -> dict:
        return {"items": platform.webhooks(who(request))}

    @app.post("/webhooks", tags=["webhooks"], status_code=201, responses=_errors(400, 422))
    def add_webhook(request: Request, body: WebhookIn) -> dict:
        record, secret = platform.add_webhook(who(request), str(body.url), list(body.types))
        return {**record, "secret": secret}

    @app.delete("/webhooks/{webhook_id}", tags=["webhooks"], responses=_errors(404, 422))
    def remove_webhook(request: Request, webhook_id: Id) -> dict:
        platform.remove_webhook(who(request), webhook_id)
        return {"removed": webhook_id}

    @app.get("/webhooks/{webhook_id}/deliveries", tags=["webhooks"], responses=_errors(404, 422))
    def deliveries(request: Request, webhook_id: Id, limit: Annotated[int, Query(ge=1, le=1000), Bare] = 100) -> dict:
        return {"items": platform.deliveries(who(request), webhook_id, limit)}

    @app.post("/notices", tags=["notices"], status_code=201, responses=_errors(400, 404, 422))
    def file_notice(request: Request, body: NoticeIn) -> dict:
        """A notice (DSA Art. 16; DMCA §512(c)(3) fields optional) about the caller's own brand or person."""
        return notices.file(who(request), body)

    @app.get("/notices", tags=["notices"], responses=_errors(422))
    def list_notices(request: Request, state: Optional[str] = Query(None, pattern=NO_NUL), limit: Annotated[int, Query(ge=1, le=1000), Bare] = 100) -> dict:
        return {"items": notices.list(who(request), state, limit)}

    @app.get("/notices/{notice_id}", tags=["notices"], responses=_errors(404, 422))
    def get_notice(request: Request, notice_id: Id) -> dict:
        return notices.get(who(request), notice_id)

    @app.post("/notices/{notice_id}/counter", tags=["notices"], responses=_errors(400, 404, 409, 422))
    def counter_notice(request: Request, notice_id: Id, body: CounterIn) -> dict:
        return notices.counter(who(request), notice_id, body)

    @app.post("/notices/{notice_id}/answer", tags=["notices"], responses=_errors(400, 404, 409, 422))
    def answer_counter(request: Request, notice_id: Id, body: AnswerIn) -> dict:
        return notices.answer(who(request), notice_id, body)

    @app.post("/cases/{case_id}/appeal", tags=["cases"], status_code=201, responses=_errors(400, 404, 409, 422))
    def appeal(request: Request, case_id: Id, body: AppealIn) -> dict:
        return notices.appeal(who(request), case_id, body)

    # a platform's admin manages its own team's keys; keys for brands, persons, sellers and regulators are the
    # server operator's (`livewarden keys create`)
    @app.get("/keys", tags=["keys"])
    def keys(request: Request) -> dict:
        mine = who(request).tenant
        return {"items": [vars(k) for k in list_keys(platform.engine) if k.tenant == mine and k.role in PLATFORM]}

    @app.post("/keys", tags=["keys"], status_code=201, responses=_errors(400, 422))
    def add_key(request: Request, body: KeyIn) -> dict:
        info, token = create_key(platform.engine, body.role, who(request).tenant, body.name)
        platform.store.append_audit(who(request).actor, "key_created", None,
                                    {"key_id": info.id, "role": info.role, "tenant": info.tenant})
        return {**vars(info), "token": token}

    @app.delete("/keys/{key_id}", tags=["keys"], responses=_errors(404, 422))
    def remove_key(request: Request, key_id: str = Path_(pattern=r"^[0-9a-f]{1,32}$")) -> dict:
        mine = who(request).tenant
        if not any(k.id == key_id and k.tenant == mine and k.role in PLATFORM for k in list_keys(platform.engine)) \
                or not revoke_key(platform.engine, key_id):
            raise NotFound(f"no key {key_id}")
        app.state.key_check.forget()
        platform.store.append_audit(who(request).actor, "key_revoked", None, {"key_id": key_id})
        return {"revoked": key_id}

    mount_console(app, _errors)
    mount_verification(app, _errors, codes, verify_limit)
    check_table(app.routes)
    plain_openapi = app.openapi
    app.openapi = lambda: document(plain_openapi(), "#/components/schemas/ErrorBody")  # type: ignore[method-assign]
    return app
