"""How the workflow client checks a Rivo webhook's signature: written from Rivo's documentation, with nothing but
the standard library, and deliberately *not* with ``rivosim.webhooks.signing`` — a receiver that shares the
signer's code would accept whatever the signer does, right or wrong.

- Documented (https://developer-docs.rivo.io/reference/verifying-webhook-signatures): header ``rivo-signature``
  = Base64 of HMAC-SHA256 over the raw request body, keyed with the webhook's secret token.
- Seen on live deliveries (Standard Webhooks style): ``rivo-webhook-signature: v1,<base64>`` where the HMAC-SHA256
  is over ``"{rivo-webhook-id}.{rivo-webhook-timestamp}.{raw body}"``, keyed with the secret as UTF-8 text;
  several space-separated ``v1,`` entries may come during a key rotation, any one matching is enough.

A delivery that carries both schemes must satisfy both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

__all__ = ["rivo_signature_problem"]


def _mac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()).decode("ascii")


def rivo_signature_problem(body: bytes, headers: Mapping[str, str], secret: str, *, now: float | None = None,
                           tolerance_seconds: float | None = 300) -> str | None:
    """None when the delivery is authentic, else why not (for the client's error log). ``headers`` have
    lower-case names. A timestamp further than ``tolerance_seconds`` from ``now`` is refused (replays)."""
    documented = headers.get("rivo-signature")
    standard = headers.get("rivo-webhook-signature")
    if documented is None and standard is None:
        return "no rivo-signature or rivo-webhook-signature header"
    if documented is not None and not hmac.compare_digest(documented.strip(), _mac(secret, body)):
        return "rivo-signature does not match base64(HMAC-SHA256(secret, body))"
    if standard is not None:
        msg_id, stamp = headers.get("rivo-webhook-id"), headers.get("rivo-webhook-timestamp")
        if not msg_id or not stamp or not stamp.strip().isdigit():
            return "rivo-webhook-signature without a rivo-webhook-id and a numeric rivo-webhook-timestamp"
        if tolerance_seconds is not None and now is not None and abs(now - int(stamp)) > tolerance_seconds:
            return f"rivo-webhook-timestamp {stamp} is more than {tolerance_seconds:g} s from now (a replay?)"
        expected = "v1," + _mac(secret, f"{msg_id}.{stamp.strip()}.".encode() + body)
        if not any(hmac.compare_digest(candidate, expected) for candidate in standard.split()):
            return "no v1 entry of rivo-webhook-signature matches HMAC-SHA256(secret, id.timestamp.body)"
    return None
