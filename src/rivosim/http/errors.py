"""Each API's error shape, and the mapping from domain refusals (``SimError``) to status codes.

- Rivo: ``{"errors": [{"status", "title", "detail", "code", "source"}], "error": detail}`` (rivo-api.md §1.6
  has no official shape; this is its suggestion plus the top-level ``error`` integrators also read).
- Shopify: ``{"errors": ...}`` with a string, a ``{field: [messages]}`` object or a list (shopify-api.md §1.6).
- Control API: ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import orjson
from werkzeug.wrappers import Response

from rivosim.http.lean_flask import LeanResponse
from rivosim.kernel.errors import (
    ApiAccessDenied,
    Conflict,
    MalformedRequest,
    NotFound,
    RateLimited,
    SimError,
    Unauthorized,
    ValidationFailed,
)

__all__ = ["api_of_path", "dumps", "error_response", "json_response", "status_for"]


def status_for(exc: SimError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, ApiAccessDenied):
        return 403
    if isinstance(exc, RateLimited):
        return 429
    if isinstance(exc, MalformedRequest):
        return 400
    if isinstance(exc, Conflict | ValidationFailed):
        return 422
    return 400


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return LeanResponse(dumps(body), status=status, headers=headers, content_type="application/json")


def dumps(body: Any) -> bytes:
    """JSON bytes. orjson refuses integers beyond 64 bits, which a client can make us echo (an error detail
    naming ``vip_tier_id`` 10**30); the standard library writes them as the valid JSON numbers they are."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def api_of_path(path: str) -> str:
    if path.startswith("/merchant_api/"):
        return "rivo"
    if path.startswith("/admin/"):
        return "shopify"
    if path.startswith("/_rivosim"):
        return "control"
    return "unmatched"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_response(api: str, status: int, detail: str, *, code: str | None = None, field: str | None = None,
                   details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Response:
    """An error in ``api``'s own shape."""
    if api == "shopify":
        body: dict[str, Any] = {"errors": {field: [detail]} if field and status == 422 else detail}
    elif api == "control":
        err: dict[str, Any] = {"code": code or _title(status).lower().replace(" ", "_"), "message": detail}
        if field:
            err["field"] = field
        if details:
            err["details"] = details
        body = {"error": err}
    else:
        item: dict[str, Any] = {"status": str(status), "title": _title(status), "detail": detail}
        if code:
            item["code"] = code
        if field:
            item["source"] = {"parameter": field}
        if details:
            item["meta"] = details
        body = {"errors": [item], "error": detail}
    return json_response(body, status, headers)


def sim_error_response(api: str, exc: SimError, status: int | None = None) -> Response:
    status = status or status_for(exc)
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": f"{max(exc.retry_after, 0):.0f}" if api == "rivo" else f"{exc.retry_after:.1f}"}
    return error_response(api, status, exc.message, code=exc.code, field=exc.field, details=exc.details or None,
                          headers=headers)
