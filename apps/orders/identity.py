"""Signed identity tokens: how the store's own site vouches for a logged-in customer.

A token is `<payload>.<signature>`, both base64url without padding. The payload is
compact JSON `{"sub": "<customer id>", "exp": <unix seconds>}`; the signature is
HMAC-SHA256 over the encoded payload with `settings.SUPPORTBOT_IDENTITY_SECRET`.
With no secret configured, no token is issued or accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

from django.conf import settings

MAX_TOKEN_LENGTH = 2048


class IdentityTokenError(Exception):
    pass


def _secret() -> bytes:
    secret = getattr(settings, "SUPPORTBOT_IDENTITY_SECRET", "") or ""
    return secret.encode()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64encode(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def make_identity_token(customer_id: str, ttl_seconds: int = 900) -> str:
    secret = _secret()
    if not secret:
        raise IdentityTokenError("SUPPORTBOT_IDENTITY_SECRET is not set")
    if not customer_id:
        raise IdentityTokenError("a token needs a customer id")
    body = json.dumps(
        {"sub": customer_id, "exp": int(time.time()) + int(ttl_seconds)}, separators=(",", ":")
    )
    payload = _b64encode(body.encode("utf-8"))
    return f"{payload}.{_sign(secret, payload)}"


def read_identity_token(token: str) -> str | None:
    """The customer id a valid, unexpired token vouches for; None for anything else."""
    secret = _secret()
    if not secret or not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return None
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature:
        return None
    try:
        expected = _sign(secret, payload)
    except UnicodeEncodeError:
        return None
    if not signature.isascii():  # base64url is ASCII; anything else (a lone surrogate) fails
        return None
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        return None
    try:
        body = json.loads(_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    customer_id, expires = body.get("sub"), body.get("exp")
    if not isinstance(customer_id, str) or not customer_id or not isinstance(expires, int):
        return None
    if expires <= int(time.time()):
        return None
    return customer_id
