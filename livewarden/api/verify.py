"""The buyers' verification page: is the code on the unit I received genuine? No login, no JavaScript.

`GET /verify/{scheme}/{serial}` is what a brand's QR points at (scheme template
`https://<livewarden>/verify/<scheme>/{serial}`); `GET /verify?code=<payload>` reads any payload (a GS1 Digital
Link, the brand's own URL, a serial typed from the label). Both answer HTML for a phone, or JSON with
`Accept: application/json` or `?format=json`. `GET /codes/statistics` gives a brand its scan statistics.

Each verification counts one for the code and keeps nothing about who asked; the rate limit per client holds
the address in memory for its window only (`limits`, moving window), never on disk.
"""

from __future__ import annotations

import datetime as dt
import html
import time
from typing import Any, Optional

from fastapi import Path as Path_, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool

from livewarden.cases.platform import NO_NUL
from livewarden.registry.codes import MAX_PAYLOAD, ReadCode, SchemeReader
from livewarden.registry.issued import IssuedCodes

def verdict(reader: SchemeReader, bank: IssuedCodes | None, payload: str, count: bool = True) -> dict[str, Any]:
    """What a buyer is told about a payload (counting the verification when the code is a brand's unit code)."""
    return judge(reader, bank, reader.read(payload), count)


def judge(reader: SchemeReader, bank: IssuedCodes | None, code: ReadCode, count: bool = True) -> dict[str, Any]:
    registry = reader.registry
    named = registry.product(reader.product_of(code) or "")
    brand = registry.brand(code.brand or (named.brand if named else ""))
    out: dict[str, Any] = {"code": code.payload[:MAX_PAYLOAD], "brand": brand.name if brand else None,
                           "serial": code.serial, "product": named.name if named else None}
    if code.scheme is None or code.serial is None or bank is None:
        if named is not None:
            return {**out, "verdict": "product_only", "genuine": None,
                    "message": "This barcode names the product, not one unit: it cannot tell a genuine unit "
                               "from a copy. Look for the unit's own code (a QR with a serial)."}
        return {**out, "verdict": "unknown", "genuine": None,
                "message": "livewarden does not know this code: it is in no registered brand's scheme."}
    scheme = registry.code_scheme(code.scheme)
    status = bank.verify(code.scheme, code.serial) if count else bank.status(code.scheme, code.serial)
    issued = status.issued
    product = registry.product(issued.product) if issued and issued.product else named
    out.update(product=product.name if product else None, verifications=status.verified,
               first_verified_at=_iso(status.first_verified_at), seen_live_rooms=status.live_rooms,
               batch=(issued.batch if issued else None) or code.batch)
    if issued is None:
        return {**out, "verdict": "not_issued", "genuine": False,
                "message": f"Not genuine: {out['brand']} never issued this code."}
    if issued.revoked:
        return {**out, "verdict": "revoked", "genuine": False,
                "message": f"Not genuine: {out['brand']} has revoked this code (a stolen or withdrawn unit)."}
    if status.verified > scheme.max_verifications or status.live_rooms > 1:
        return {**out, "verdict": "copied", "genuine": None,
                "message": "This code was issued, but it has been seen on several units — it may be copied. "
                           "A genuine code is checked once or twice; ask the seller, or the brand."}
    return {**out, "verdict": "genuine", "genuine": True,
            "message": f"Genuine: {out['brand']} issued this code" + (f" for {out['product']}." if out["product"]
                                                                      else ".")}


def _iso(t: float | None) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="minutes")


SOME_TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"  # something to read, and no NUL
PAGE = {200: {"description": "the verdict: a page for a phone, or JSON (`Accept: application/json`, `?format=json`)",
              "content": {"text/html": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "object"}}}}}


def mount_verification(app, errors, bank: IssuedCodes | None, limit: str) -> None:
    """Add the verification page and the scan statistics to the API app (their entries are in `access.ACCESS`).
    `limit`: checks per client address (a buyer checks a handful of units; a script trying serials gets 429)."""
    limiter, rate = MovingWindowRateLimiter(MemoryStorage()), parse(limit)
    compiled: list[SchemeReader] = []  # the reader of the registry in force (a reload replaces the registry)

    def reader(request: Request) -> SchemeReader:
        registry = request.app.state.registry
        if not compiled or compiled[0].registry is not registry:
            compiled[:] = [SchemeReader(registry)]
        return compiled[0]

    def limited(request: Request) -> int | None:
        """Seconds to wait when this client has checked too often, else None (and the check is counted)."""
        client = request.client.host if request.client else "unknown"
        if limiter.hit(rate, "verify", client):
            return None
        return max(1, int(limiter.get_window_stats(rate, "verify", client).reset_time - time.time()))

    async def answer(request: Request, fmt: str | None, code: ReadCode | None) -> Response:
        wants_json = fmt == "json" or (fmt is None and "application/json" in request.headers.get("accept", ""))
        wait = limited(request)
        if wait is not None:
            reason = f"too many checks from this address: try again in {wait} s"
            headers = {"Retry-After": str(wait)}
            return JSONResponse({"error": {"status": 429, "reason": reason}}, 429, headers) if wants_json \
                else HTMLResponse(_page(None, reason), 429, headers)
        if code is None:  # the empty form (JSON: what to send)
            return JSONResponse({"verdict": None, "message": "give the code: /verify?code=..."}) if wants_json \
                else HTMLResponse(_page(None))
        result = await run_in_threadpool(judge, reader(request), bank, code)
        return JSONResponse(result) if wants_json else HTMLResponse(_page(result))

    @app.get("/verify", tags=["verification"], responses={**PAGE, **errors(422, 429)})
    async def verify_payload(request: Request, code: Optional[str] = Query(None, min_length=1, max_length=MAX_PAYLOAD,
                                                                           pattern=SOME_TEXT),
                             format: Optional[str] = Query(None, pattern="^(json|html)$")) -> Response:
        """Check a code as read from the unit (a QR's text, a GS1 Digital Link, a serial from the label)."""
        return await answer(request, format, reader(request).read(code) if code else None)

    @app.get("/verify/{scheme}/{serial}", tags=["verification"], responses={**PAGE, **errors(422, 429)})
    async def verify_serial(request: Request, scheme: str = Path_(max_length=64, pattern=NO_NUL),
                            serial: str = Path_(max_length=128, pattern=NO_NUL),
                            format: Optional[str] = Query(None, pattern="^(json|html)$")) -> Response:
        """The page a brand's QR opens (its scheme's template points here): scheme and serial as issued."""
        found = request.app.state.registry.code_scheme(scheme)
        code = ReadCode(f"{scheme}/{serial}", found.id, found.brand, serial, ambiguous=found.ambiguous) \
            if found is not None else ReadCode(f"{scheme}/{serial}")
        return await answer(request, format, code)

    @app.get("/codes/statistics", tags=["verification"])
    def statistics(request: Request) -> dict:
        """Per code scheme: codes issued and revoked, buyers' verifications (and of codes never issued, or over
        the scheme's limit), codes seen in live rooms. A brand sees its own schemes."""
        who = request.state.principal
        schemes = [s for s in request.app.state.registry.code_schemes
                   if who.role != "brand" or s.brand == who.tenant]
        return {"schemes": [bank.statistics(s) for s in schemes] if bank is not None else []}



_STYLE = """body{font:16px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:28rem;margin:0 auto;padding:1.2rem}h1{font-size:1.25rem;margin:.2rem 0 1rem}
.v{border-radius:.8rem;padding:1rem 1.1rem;margin:0 0 1rem;color:#fff}.genuine{background:#1f7a4d}
.not_issued,.revoked{background:#b3261e}.copied{background:#b86e00}.unknown,.product_only{background:#56607a}
.v strong{display:block;font-size:1.35rem;margin-bottom:.3rem}dl{background:#fff;border-radius:.8rem;
padding:.8rem 1.1rem;margin:0 0 1rem}dt{color:#5b6478;font-size:.85rem}dd{margin:0 0 .6rem;word-break:break-all}
form{display:flex;gap:.5rem}input{flex:1;font:inherit;padding:.6rem;border:1px solid #b8bfcc;border-radius:.5rem}
button{font:inherit;padding:.6rem 1rem;border:0;border-radius:.5rem;background:#2d4fd6;color:#fff}
small{color:#5b6478}"""
_TITLES = {"genuine": "Genuine", "not_issued": "Not genuine", "revoked": "Not genuine", "copied": "Be careful",
           "unknown": "Unknown code", "product_only": "Product barcode"}


def _page(result: dict | None, refused: str | None = None) -> str:
    """The page, server-rendered (works without JavaScript), every value escaped."""
    e = lambda v: html.escape(str(v))  # noqa: E731
    body = f'<section class="v unknown" role="alert">{e(refused)}</section>' if refused else ""
    if result is not None:
        facts = [("Brand", result.get("brand")), ("Product", result.get("product")), ("Batch", result.get("batch")),
                 ("Serial", result.get("serial")), ("First verified", (result.get("first_verified_at") or "").replace("T", " ").replace("+00:00", " UTC")),
                 ("Times verified", result.get("verifications")),
                 ("Live rooms showing it", result.get("seen_live_rooms")), ("Code", result.get("code"))]
        rows = "".join(f"<dt>{k}</dt><dd>{e(v)}</dd>" for k, v in facts if v not in (None, ""))
        body = (f'<section class="v {e(result["verdict"])}" role="status"><strong>{_TITLES[result["verdict"]]}'
                f'</strong>{e(result["message"])}</section><dl>{rows}</dl>')
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1"><title>Verify a code · livewarden'
            f'</title><style>{_STYLE}</style></head><body><main><h1>Verify the code on your unit</h1>{body}'
            '<form method="get" action="/verify"><input name="code" aria-label="code" required '
            'placeholder="the code or serial on the label"><button>Check</button></form>'
            '<p><small>Nothing about you is kept: a check only adds one to the code\'s count.</small></p>'
            '</main></body></html>')
