"""Webhook signatures, computed over the exact bytes sent.

- Rivo, documented (rivo-api.md §4.2, CONFIRMED): ``rivo-signature: base64(HMAC-SHA256(secret, body))``.
- Rivo, seen on live deliveries (§4.3, OBSERVED): Standard-Webhooks style — ``rivo-webhook-signature:
  v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``, the secret used as UTF-8 text.
- Shopify (shopify-api.md §4.3, C): ``X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(app secret, body))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = ["sign_rivo", "sign_shopify", "sign_standard", "verify", "verify_shopify"]


def _b64_hmac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()).decode("ascii")


def sign_rivo(body: bytes, secret: str) -> str:
    """The documented ``rivo-signature`` value."""
    return _b64_hmac(secret, body)


def sign_standard(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """The ``rivo-webhook-signature`` value (``v1,<base64>``) over ``"{id}.{timestamp}.{body}"``."""
    return "v1," + _b64_hmac(secret, f"{msg_id}.{timestamp}.".encode() + body)


def sign_shopify(body: bytes, secret: str) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value."""
    return _b64_hmac(secret, body)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify(body: bytes, headers: Mapping[str, str], secret: str, *, tolerance_seconds: float | None = 300,
           now: float | None = None) -> bool:
    """True when a Rivo delivery is authentic under whichever scheme it carries (both checked if both present).

    ``body`` must be the raw request bytes. For the Standard-Webhooks scheme the timestamp must be within
    ``tolerance_seconds`` of ``now`` (unix seconds; defaults to the wall clock — pass the simulator's time
    when testing against a virtual clock, or ``tolerance_seconds=None`` to skip the check).
    """
    documented = _header(headers, "rivo-signature")
    standard = _header(headers, "rivo-webhook-signature")
    if documented is None and standard is None:
        return False
    if documented is not None and not hmac.compare_digest(documented.encode(), sign_rivo(body, secret).encode()):
        return False
    if standard is not None:
        msg_id = _header(headers, "rivo-webhook-id")
        stamp = _header(headers, "rivo-webhook-timestamp")
        if msg_id is None or stamp is None or not stamp.isdigit():
            return False
        if tolerance_seconds is not None:
            current = time.time() if now is None else now
            if abs(current - int(stamp)) > tolerance_seconds:
                return False
        expected = sign_standard(msg_id, int(stamp), body, secret).encode()
        # Several space-separated "v1,<sig>" entries may be sent (key rotation); any match is enough.
        if not any(hmac.compare_digest(candidate.encode(), expected) for candidate in standard.split(" ")):
            return False
    return True


def verify_shopify(body: bytes, headers: Mapping[str, str], secret: str) -> bool:
    """True when ``X-Shopify-Hmac-Sha256`` matches the raw body under the app secret."""
    given = _header(headers, "X-Shopify-Hmac-Sha256")
    return given is not None and hmac.compare_digest(given.encode(), sign_shopify(body, secret).encode())
