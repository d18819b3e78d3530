"""Signed webhooks as the Standard Webhooks spec has them (https://www.standardwebhooks.com/), both sides.

A message carries three headers: `webhook-id` (the same on every retry, so a receiver can drop duplicates),
`webhook-timestamp` (integer Unix seconds of this attempt) and `webhook-signature`, space-separated
`v1,<base64 HMAC-SHA256>` entries over ``f"{id}.{timestamp}.{body}"`` with the secret's key. During a secret
rotation the sender signs with every live secret, so a receiver holding either the old or the new one
accepts. A secret is ``"whsec_" + base64(random bytes)``; the key is those bytes.

A receiver (any web framework; it needs the raw body, not a re-serialised one)::

    from livewarden import webhooks
    try:
        event = webhooks.verify(secret, request.headers, raw_body)
    except webhooks.WebhookVerificationError as exc:
        return 400, str(exc)
    if seen(request.headers["webhook-id"]):   # delivery is at least once
        return 200

Only the standard library: this module is what receivers copy, and what our sender signs with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24  # the spec asks for 24 to 64 bytes
TOLERANCE_S = 300


class WebhookVerificationError(ValueError):
    """The message is not one signed with this secret, now; the text says why (never the secret)."""


def new_secret(nbytes: int = SECRET_BYTES) -> str:
    """A fresh signing secret, "whsec_" + base64 of `nbytes` random bytes."""
    if not 24 <= nbytes <= 64:
        raise ValueError(f"a webhook secret has 24 to 64 bytes, not {nbytes}")
    return SECRET_PREFIX + base64.b64encode(os.urandom(nbytes)).decode("ascii")


def _key(secret: str | bytes) -> bytes:
    """The HMAC key of a secret: the bytes behind "whsec_" (the prefix is optional, as in the reference code)."""
    if isinstance(secret, bytes):
        key = secret
    else:
        encoded = secret.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("webhook secret is not \"whsec_\" + base64") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """One `v1,<base64>` signature of the message (body as sent, bytes or UTF-8 text)."""
    digest = _digest(_key(secret), msg_id, int(timestamp), _as_bytes(body))
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secrets: str | Sequence[str], msg_id: str, timestamp: int, body: bytes | str) -> dict[str, str]:
    """The three Standard Webhooks headers; one v1 signature per secret (several while rotating)."""
    secrets = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
    if not secrets:
        raise ValueError("a webhook needs at least one secret to sign with")
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(timestamp)),
            "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets)}


def verify(secret: str | bytes | Sequence[str], headers: Mapping[str, str], body: bytes | str,
           tolerance_s: float = TOLERANCE_S, now: float | None = None) -> Any:
    """Check a received message and return its JSON payload, or raise WebhookVerificationError saying why.

    `secret` may be a list (a receiver in the middle of its own rotation); `headers` any mapping, names in
    any case; `body` the raw body. A timestamp further than `tolerance_s` from `now` is refused (replays).
    Any one matching v1 signature is enough; the comparisons are constant-time.
    """
    found = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if not found.get(h)]
    if missing:
        raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
    msg_id, stamp, signatures = found["webhook-id"], found["webhook-timestamp"].strip(), found["webhook-signature"]
    if not stamp.isdigit():
        raise WebhookVerificationError(f"webhook-timestamp {stamp[:20]!r} is not integer Unix seconds")
    timestamp = int(stamp)
    now = time.time() if now is None else now
    if timestamp < now - tolerance_s:
        raise WebhookVerificationError(f"timestamp too old: {now - timestamp:.0f} s ago, "
                                       f"tolerance {tolerance_s:g} s")
    if timestamp > now + tolerance_s:
        raise WebhookVerificationError(f"timestamp too new: {timestamp - now:.0f} s ahead, "
                                       f"tolerance {tolerance_s:g} s")

    given = []
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # another scheme (v1a, asymmetric) or a future one: not ours to judge
        try:
            given.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not given:
        raise WebhookVerificationError("webhook-signature has no v1 signature")
    secrets = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    raw = _as_bytes(body)
    expected = [_digest(_key(s), msg_id, timestamp, raw) for s in secrets]
    # every pair is compared (no early exit), so the time taken says nothing about which one nearly matched
    if not sum(hmac.compare_digest(e, g) for e in expected for g in given):
        raise WebhookVerificationError("no signature matches (wrong secret, or the body or headers were changed)")
    try:
        return json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("signature matches but the body is not JSON") from None
