"""The console's routes: a session from an API key, and the pages.

The pages are shells (HTML, CSS and plain JavaScript modules shipped in the package, no build step, nothing
from a CDN); everything they show comes from the API with the caller's key in an HttpOnly cookie, so the
API's access table is the only place that decides who sees what. A change made from the console also needs
the CSRF token (`access._csrf_ok`).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import Field

from livewarden.api.access import CSRF_COOKIE, KEY_COOKIE
from livewarden.cases.platform import Input, NotFound

STATIC = Path(__file__).parent / "static"
PAGES = ("login", "wall", "room", "queue", "case", "notices", "warning", "selfcheck")  # /console/{page}: static/{page}.html
HOME = {"moderator": "/console/queue", "brand": "/console/notices", "person": "/console/notices",
        "regulator": "/console/warning", "seller": "/console/selfcheck"}  # else the wall
SESSION_S = 12 * 3600  # a console session lasts a working day; the key itself stays valid until revoked


class SessionIn(Input):
    key: str = Field(min_length=1, max_length=200, description="an API key (lw_...)")


def mount_console(app: FastAPI, errors: Any, secure_cookies: bool = False) -> None:
    """Add the console's routes to the API app (their entries are in `access.ACCESS`, all public: a page
    holds no data, and the session route checks the key itself). `errors(*statuses)`: the app's error
    responses, for the spec."""

    @app.get("/console", include_in_schema=False)
    def console_home() -> Response:
        return RedirectResponse("/console/wall", status_code=307)

    @app.get("/console/{page}", include_in_schema=False)
    def console_page(page: str) -> Response:
        if page not in PAGES:
            raise NotFound(f"no console page {page!r}")
        return FileResponse(STATIC / f"{page}.html", headers={"Cache-Control": "no-cache"})

    @app.post("/session", tags=["console"], responses={
        **errors(422), 401: {"model": errors(422)[422]["model"], "description": "the key is not valid"}})
    async def console_login(request: Request, body: SessionIn) -> Response:
        """Start a console session: the key goes into an HttpOnly, SameSite=Strict cookie (the page never
        keeps it), with a CSRF token the page sends back on every change."""
        key = body.key.strip()
        who = await request.app.state.key_check(key)
        if who is None:
            raise HTTPException(401, "this key is not valid (revoked, or mistyped)")
        response = JSONResponse({"role": who.role, "tenant": who.tenant, "home": HOME.get(who.role, "/console/wall")})
        options = dict(max_age=SESSION_S, samesite="strict", secure=secure_cookies, path="/")
        response.set_cookie(KEY_COOKIE, key, httponly=True, **options)
        response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), httponly=False, **options)
        return response

    @app.delete("/session", tags=["console"])
    def console_logout() -> Response:
        response = JSONResponse({"signed_out": True})
        response.delete_cookie(KEY_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response

    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
