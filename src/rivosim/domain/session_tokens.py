"""App Bridge session tokens (shopify-api.md §6.1): HS256 JWTs signed with the app's client secret, minted with
the claims of Shopify's own test helper, and checked as shopify-api's ``decodeSessionToken`` checks them — at the
simulator's time, never the wall clock."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from rivosim.kernel.errors import Unauthorized

__all__ = ["CLOCK_TOLERANCE", "REAUTHORIZE_HEADER", "RETRY_HEADER", "TOKEN_LIFETIME", "InvalidSessionToken",
           "decode_session_token", "encode_session_token"]

TOKEN_LIFETIME = 60  # seconds: "Lifetime: 1 minute" (§6.1)
CLOCK_TOLERANCE = 10  # JWT_PERMITTED_CLOCK_TOLERANCE in shopify-api's decode-session-token.ts
# respond-to-invalid-session-token.ts / const.ts: a fetch with a bad token gets 401 and this header, and App
# Bridge fetches a new token and retries once; a re-authorisation is asked for with the second.
RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"
REAUTHORIZE_HEADER = "X-Shopify-API-Request-Failure-Reauthorize-Url"


class InvalidSessionToken(Unauthorized):
    code = "invalid_session_token"


def encode_session_token(shop_domain: str, *, api_key: str, secret: str, user_id: int, at: int, jti: int,
                         sid: str) -> str:
    """A token issued at ``at`` (epoch seconds) for staff user ``user_id``; ``jti`` is 128 random bits."""
    # The claims of Shopify's test helper (get-jwt.ts), in its order.
    claims = {"iss": f"https://{shop_domain}/admin", "dest": f"https://{shop_domain}", "aud": api_key,
              "sub": str(user_id), "exp": at + TOKEN_LIFETIME, "nbf": at, "iat": at,
              "jti": str(uuid.UUID(int=jti, version=4)), "sid": sid}
    return _jwt().encode(claims, secret, algorithm="HS256")


class _BadToken(Exception):
    """A reason the JWT library refuses a token (the wording of ``jose``, which shopify-api uses)."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JSON.parse refuses NaN and Infinity; so do we


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _jwt() -> Any:
    # PyJWT (and the crypto modules it pulls in) costs ~20 ms to import: only a session token needs it.
    import jwt

    return jwt


def _claims(token: str, secret: str, now: int) -> dict[str, Any]:
    jwt = _jwt()
    if token.count(".") != 2:
        raise _BadToken("Invalid Compact JWS")
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise _BadToken("JWS Protected Header is invalid") from None
    if header.get("alg") != "HS256":  # HS256 only: never "none", never a public-key algorithm
        raise _BadToken('"alg" (Algorithm) Header Parameter value not allowed')
    try:
        # The signature only: PyJWT's claim checks read the wall clock, so exp and nbf are checked below.
        raw = jwt.PyJWS().decode(token, secret, algorithms=["HS256"])
    except jwt.InvalidSignatureError:
        raise _BadToken("signature verification failed") from None
    except (jwt.PyJWTError, ValueError, TypeError):
        raise _BadToken("Invalid Compact JWS") from None
    try:
        claims = json.loads(raw, parse_constant=_no_constant)
    except ValueError:
        claims = None
    if not isinstance(claims, dict):
        raise _BadToken("JWT Claims Set must be a top-level JSON object")
    for name in ("iat", "nbf", "exp"):
        if name in claims and not _number(claims[name]):
            raise _BadToken(f'"{name}" claim must be a number')
    if "nbf" in claims and claims["nbf"] > now + CLOCK_TOLERANCE:
        raise _BadToken('"nbf" claim timestamp check failed')
    if "exp" in claims and claims["exp"] <= now - CLOCK_TOLERANCE:
        raise _BadToken('"exp" claim timestamp check failed')
    return claims


def decode_session_token(token: str, *, api_key: str, secret: str, now: datetime) -> dict[str, Any]:
    """shopify-api's decodeSessionToken: HS256 only, ``exp``/``nbf`` enforced with 10 s tolerance, then ``aud``
    must be the app's API key. Raises :class:`InvalidSessionToken` with shopify-api's messages."""
    try:
        claims = _claims(token, secret, int(now.timestamp()))
    except _BadToken as exc:
        raise InvalidSessionToken(f"Failed to parse session token '{token}': {exc}") from None
    if claims.get("aud") != api_key:
        raise InvalidSessionToken("Session token had invalid API key")
    return claims
