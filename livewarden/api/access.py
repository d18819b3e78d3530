"""Who may call which route: one table, checked on every request (and a route missing from it refuses to start).

The table names the roles per route; the tenant scope is applied to the objects themselves (a caller sees only
its platform's, brand's, person's or seller's objects: `livewarden.cases.scope`), and an object of another
tenant answers 404, as if it did not exist. `PUBLIC` routes need no key.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from livewarden.cases.keys import authenticate
from livewarden.cases.scope import ROLES, Principal

EVERYONE = ROLES
PLATFORM = ("admin", "moderator")
OVERSIGHT = ("admin", "moderator", "regulator")
PUBLIC = ()

ACCESS: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/me"): EVERYONE,
    ("GET", "/rooms"): EVERYONE,
    ("GET", "/rooms/{room_id}/thumbnail"): ("admin", "moderator", "regulator", "seller"),  # who sees rooms
    ("GET", "/rooms/{room_id}/broadcast"): ("admin", "moderator", "regulator", "seller"),
    ("GET", "/registry"): EVERYONE,
    ("POST", "/registry/reload"): ("admin",),  # re-reads the operator's file: an admin applies, cannot edit it
    ("GET", "/registry/{section}/{entry_id}/images/{index}"): EVERYONE,  # each caller the entries it sees
    ("GET", "/alerts"): EVERYONE,
    ("GET", "/alerts/{alert_id}"): EVERYONE,
    ("GET", "/alerts/{alert_id}/evidence/{index}"): EVERYONE,
    ("GET", "/cases"): EVERYONE,
    ("GET", "/cases/{case_id}"): EVERYONE,
    ("GET", "/cases/{case_id}/timeline"): EVERYONE,
    ("POST", "/queue/claim"): PLATFORM,
    ("POST", "/cases/{case_id}/release"): PLATFORM,
    ("POST", "/cases/{case_id}/actions"): PLATFORM,
    ("GET", "/audit/verify"): ("admin", "regulator"),
    ("GET", "/aggregates"): OVERSIGHT,
    ("GET", "/events"): EVERYONE,
    ("GET", "/webhooks"): EVERYONE,
    ("POST", "/webhooks"): EVERYONE,
    ("DELETE", "/webhooks/{webhook_id}"): EVERYONE,
    ("GET", "/webhooks/{webhook_id}/deliveries"): EVERYONE,
    ("POST", "/notices"): ("brand", "person"),
    ("GET", "/notices"): EVERYONE,
    ("GET", "/notices/{notice_id}"): EVERYONE,
    ("POST", "/notices/{notice_id}/counter"): ("seller",),
    ("POST", "/notices/{notice_id}/answer"): ("brand", "person"),
    ("POST", "/cases/{case_id}/appeal"): ("seller",),
    ("GET", "/metrics"): OVERSIGHT,
    ("GET", "/export"): ("admin", "regulator"),
    ("POST", "/scans"): ("seller",),
    ("GET", "/scans/{scan_id}"): ("seller",),
    ("GET", "/scans/{scan_id}/findings/{finding}/evidence/{index}"): ("seller",),
    ("GET", "/console"): PUBLIC,  # the console's pages hold no data: what they show comes from the routes above
    ("GET", "/console/{page}"): PUBLIC,
    ("POST", "/session"): PUBLIC,  # checks the key it is given
    ("DELETE", "/session"): PUBLIC,
    ("GET", "/verify"): PUBLIC,  # buyers check the code on their unit: no account, nothing about them kept
    ("GET", "/verify/{scheme}/{serial}"): PUBLIC,
    ("GET", "/codes/statistics"): ("admin", "moderator", "regulator", "brand"),  # a brand: its own schemes
    ("GET", "/keys"): ("admin",),
    ("POST", "/keys"): ("admin",),
    ("DELETE", "/keys/{key_id}"): ("admin",),
}


def check_table(routes: list) -> None:
    """Every API route is in the table and every table entry is a route: a route without a check cannot start."""
    served = {(m, r.path) for r in routes if isinstance(r, APIRoute) for m in r.methods if m != "HEAD"}
    missing, stale = served - ACCESS.keys(), ACCESS.keys() - served
    if missing or stale:
        raise RuntimeError(f"access table out of step with the routes: missing {sorted(missing)}, "
                           f"stale {sorted(stale)}")


def document(spec: dict[str, Any], error_schema: str) -> dict[str, Any]:
    """The table in the OpenAPI spec: the API key scheme, and per operation whether it needs a key (401 without
    a valid one) and which roles it admits (403 for the others). `error_schema`: the $ref of the error body."""
    spec.setdefault("components", {}).setdefault("securitySchemes", {})["apiKey"] = {
        "type": "http", "scheme": "bearer",
        "description": "an API key (`lw_...`) as `Authorization: Bearer`; the console sends it in the "
                       "`livewarden_key` cookie instead"}
    error = {"application/json": {"schema": {"$ref": error_schema}}}
    for (method, path), roles in ACCESS.items():
        operation = spec["paths"].get(path, {}).get(method.lower())
        if operation is None:  # a console page: not part of the API's spec
            continue
        if roles == PUBLIC:
            operation["security"] = []
            continue
        operation["security"] = [{"apiKey": []}]
        operation["responses"]["401"] = {"description": "no valid API key", "content": error}
        if set(roles) != set(EVERYONE):
            operation["responses"]["403"] = {"description": f"only for the roles {', '.join(roles)}",
                                             "content": error}
    return spec


KEY_CHECK_S = 1.0  # a key revoked from another process (`livewarden keys revoke`) stops working within this


class KeyCheck:
    """token -> its caller (or None), read from the keys table at most once a second per token.

    The check ran on every request: a database round trip and a hop to a worker thread, more than half the
    server's time for a small read. A key revoked through this server is forgotten at once (`forget`).
    """

    def __init__(self, engine: Engine, max_tokens: int = 10_000):
        self.engine, self.max_tokens = engine, max_tokens
        self._checked: dict[str, tuple[float, Principal | None]] = {}

    async def __call__(self, token: str) -> Principal | None:
        now = time.monotonic()
        hit = self._checked.get(token)
        if hit is not None and now - hit[0] < KEY_CHECK_S:
            return hit[1]
        who = await run_in_threadpool(authenticate, self.engine, token)
        if len(self._checked) >= self.max_tokens:  # someone trying many tokens: start over, never grow
            self._checked.clear()
        self._checked[token] = (now, who)
        return who

    def forget(self) -> None:
        self._checked.clear()


async def caller(request: Request) -> Principal | None:
    """The checked caller of this request (None on a public route); 401 without a valid key, 403 for a role
    the route does not admit."""
    route = request.scope.get("route")
    roles = ACCESS.get((request.method, getattr(route, "path", "")))
    if roles is None:
        raise HTTPException(500, "route has no access entry")
    if roles == PUBLIC:
        return None
    token, from_cookie = _token(request)
    who = await request.app.state.key_check(token) if token else None
    if who is None:
        raise HTTPException(401, "a valid API key is needed (Authorization: Bearer lw_...)",
                            headers={"WWW-Authenticate": "Bearer"})
    if from_cookie and request.method not in SAFE_METHODS and not _csrf_ok(request):
        raise HTTPException(403, f"the console's {CSRF_HEADER} header is missing or does not match its cookie")
    if who.role not in roles:
        raise HTTPException(403, f"role {who.role!r} may not {request.method} {route.path}")
    request.state.principal = who
    return who


KEY_COOKIE, CSRF_COOKIE, CSRF_HEADER = "livewarden_key", "livewarden_csrf", "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _token(request: Request) -> tuple[str | None, bool]:
    """The caller's key, and whether it came from the console's cookie (then a change needs the CSRF token)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    return request.cookies.get(KEY_COOKIE), True  # the console keeps the key in a session cookie


def _csrf_ok(request: Request) -> bool:
    """Double-submit: a page of another site can make the browser send the cookies, but cannot read the CSRF
    cookie to copy it into the header (both cookies are also SameSite=Strict)."""
    cookie, header = request.cookies.get(CSRF_COOKIE, ""), request.headers.get(CSRF_HEADER, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), header.encode())
