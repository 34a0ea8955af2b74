"""Shopify's Admin REST API, ``/admin/api/<YYYY-MM>/…json`` (shopify-api.md §1, §3): versions, auth by
``X-Shopify-Access-Token``, the leaky-bucket rate limit and Shopify's error bodies. Inputs and cursor pagination
are in ``shopify_params.py``; the resources in ``shopify_customers.py``, ``shopify_orders.py``, ``shopify_store.py``.

Pipeline for each request: API version (malformed → 404; unsupported → the oldest supported one) → token
(and a ``*.myshopify.com`` Host must name the token's shop) → REST bucket (429) → shop status (402/423) →
``Accept`` (406) → scope (403) → view. Every response after auth carries ``X-Shopify-Shop-Api-Call-Limit``.
"""

from __future__ import annotations

import hmac
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, g, request
from werkzeug.wrappers import Response

from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.faults.ratelimit import BucketSpec
from rivosim.http.app import ROUTE_NAMES
from rivosim.http.errors import json_response, status_for
from rivosim.kernel.errors import (
    AlreadyExists,
    ApiAccessDenied,
    Conflict,
    MalformedRequest,
    NotFound,
    RateLimited,
    SimError,
    Unauthorized,
)

__all__ = [
    "INVALID_TOKEN",
    "add_headers",
    "authenticate",
    "blueprint",
    "check_shop_state",
    "graphql_bucket",
    "rest_bucket",
    "route",
    "shop",
    "shopify_error",
    "sim",
    "supported_versions",
]

blueprint = Blueprint("shopify", __name__, url_prefix="/admin")

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
THROTTLED = "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
_VERSION_RE = re.compile(r"^(\d{4})-(01|04|07|10)$")
SCOPES: dict[str, str] = {}
"""Flask endpoint -> the access scope the route needs."""


# -- versions -------------------------------------------------------------------------------------------------
def _quarter(now: datetime) -> tuple[int, int]:
    """The newest stable version released by ``now``: quarterly, on the 1st at 17:00 UTC (shopify-api.md §1.1)."""
    year, month = now.year, (now.month - 1) // 3 * 3 + 1
    if now.month == month and now.day == 1 and now.hour < 17:
        year, month = (year, month - 3) if month > 1 else (year - 1, 10)
    return year, month


def _shift(year: int, month: int, quarters: int) -> tuple[int, int]:
    index = year * 4 + (month - 1) // 3 + quarters
    return index // 4, index % 4 * 3 + 1


def supported_versions(now: datetime) -> list[str]:
    """As the official JS client computes them: three previous quarters, the current one, the next one (the
    release candidate), and ``unstable``."""
    year, month = _quarter(now)
    return [f"{y:04d}-{m:02d}" for y, m in (_shift(year, month, q) for q in range(-3, 2))] + ["unstable"]


def resolve_version(raw: str | None, now: datetime) -> str | None:
    """The version that serves ``raw``: itself when supported, the oldest supported stable one when absent or
    unsupported ("fall forward"), None when malformed (a 404, as Shopify answers an unknown path)."""
    supported = supported_versions(now)
    if raw is None:
        return supported[0]
    if raw in supported:
        return raw
    if _VERSION_RE.match(raw):
        return supported[0]
    return None


# -- buckets --------------------------------------------------------------------------------------------------
def _bucket(shop: Shop, kind: str, standard: tuple[float, float], plus: tuple[float, float]) -> BucketSpec:
    bucket = shop.settings.rate_limits.bucket(kind)
    rate, burst = plus if shop.settings.shopify_plan == "plus" else standard
    return BucketSpec(rate=float(rate if bucket.rate is None else bucket.rate),
                      burst=float(burst if bucket.burst is None else bucket.burst), enabled=bucket.enabled)


def rest_bucket(shop: Shop) -> BucketSpec:
    """40 requests leaking 2/s; Plus x10 (shopify-api.md §3); the document's rate/burst override."""
    return _bucket(shop, "shopify_rest", (2.0, 40.0), (20.0, 400.0))


def graphql_bucket(shop: Shop) -> BucketSpec:
    """2000 points restoring 100/s; Plus 1000/s with (INFERRED) 20000 (shopify-api.md §2.5)."""
    return _bucket(shop, "shopify_graphql", (100.0, 2000.0), (1000.0, 20000.0))


# -- routes, auth and the pipeline ----------------------------------------------------------------------------
def route(rule: str, method: str, name: str, scope: str | None) -> Callable[[Callable[..., Response]],
                                                                          Callable[..., Response]]:
    """Declare ``/admin/api/<version><rule>`` (and the version-less ``/admin<rule>``, served by the oldest
    supported version) under a stable name, needing ``scope``."""
    endpoint = name.split(".", 1)[1].replace(".", "__")
    ROUTE_NAMES[f"shopify.{endpoint}"] = name
    if scope is not None:
        SCOPES[f"shopify.{endpoint}"] = scope

    def wrap(view: Callable[..., Response]) -> Callable[..., Response]:
        blueprint.add_url_rule("/api/<version>" + rule, endpoint=endpoint, view_func=view, methods=[method])
        blueprint.add_url_rule(rule, endpoint=endpoint, view_func=view, methods=[method],
                               defaults={"version": None})
        return view

    return wrap


def sim() -> Simulator:
    return current_app.sim  # type: ignore[attr-defined, no-any-return]


def shop() -> Shop:
    return g.shop  # type: ignore[no-any-return]


@blueprint.url_value_preprocessor
def _take_version(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # The version is the pipeline's business, not the views'.
    g.requested_version = (values or {}).pop("version", None)


def authenticate() -> Shop:
    """The token's shop; refused like an unknown token when a ``*.myshopify.com`` Host names another shop
    (a proxied client or in-process mode), or when the app was uninstalled."""
    requested = getattr(g, "requested_version", None)
    version = resolve_version(requested, sim().now())
    if version is None:
        g.notes = [f"malformed API version {requested!r}: use YYYY-MM (01, 04, 07, 10) or unstable; supported "
                   f"now: {', '.join(supported_versions(sim().now()))}"]
        raise NotFound("Not Found")
    g.shopify_version = version
    token = request.headers.get("X-Shopify-Access-Token", "")
    found = sim().shop_for_shopify_token(token) if token else None
    if found is None or not hmac.compare_digest(token.encode(), found.credentials.shopify_access_token.encode()):
        g.notes = ["missing X-Shopify-Access-Token" if not token else "unknown access token"]
        raise Unauthorized(INVALID_TOKEN)
    host = request.host.split(":", 1)[0].lower()
    if host.endswith(".myshopify.com") and host != found.domain:
        g.notes = [f"the token belongs to {found.domain}, but the request is for {host}"]
        raise Unauthorized(INVALID_TOKEN)
    if not found.shopify.app_installed:
        g.notes = [f"the app was uninstalled from {found.domain}"]
        raise Unauthorized(INVALID_TOKEN)
    g.shop = found
    return found


def check_shop_state(found: Shop) -> Response | None:
    status = found.settings.shopify.shop_status
    if status == "frozen":
        return json_response({"errors": "Unavailable Shop"}, 402)
    if status == "locked":
        return json_response({"errors": "This shop is unavailable"}, 423)
    accept = request.headers.get("Accept", "")
    if accept.strip() and not request.accept_mimetypes.accept_json:
        return json_response({"errors": "Not Acceptable"}, 406)
    scope = SCOPES.get(request.endpoint or "")
    if scope is not None and scope not in found.settings.shopify.access_scopes:
        # A write scope implies its read scope on Shopify; asking for read with only write granted is fine.
        implied = scope.startswith("read_") and "write_" + scope[5:] in found.settings.shopify.access_scopes
        if not implied:
            raise ApiAccessDenied(f"[API] This action requires merchant approval for {scope} scope.")
    return None


@blueprint.before_request
def _pipeline() -> Response | None:
    found = authenticate()
    decision = sim().limiter.check(f"shopify_rest:{found.domain}:{found.credentials.shopify_access_token}",
                                   spec := rest_bucket(found), sim().now())
    if decision is not None:
        g.shopify_call_limit = f"{math.ceil(decision.used - 1e-9)}/{int(spec.burst)}"
        if not decision.allowed:
            # Retry-After as Shopify writes it ("2.0"): the exact wait, rounded up to a tenth and at least a
            # second, so clients that truncate it to whole seconds (the Ruby client) still wait.
            raise RateLimited(THROTTLED, retry_after=max(1.0, math.ceil(decision.retry_after * 10) / 10))
    else:
        g.shopify_call_limit = f"1/{int(spec.burst)}"
    return check_shop_state(found)


@blueprint.after_request
def _headers(response: Response) -> Response:
    return add_headers(response)


def add_headers(response: Response) -> Response:
    version = getattr(g, "shopify_version", None)
    if version is not None:
        response.headers["X-Shopify-API-Version"] = version
    limit = getattr(g, "shopify_call_limit", None)
    if limit is not None:
        response.headers["X-Shopify-Shop-Api-Call-Limit"] = limit
    found = getattr(g, "shop", None)
    if found is not None:
        response.headers["X-Request-Id"] = request_id(found)
    return response


def request_id(found: Shop) -> str:
    """A deterministic id per request (clients print it in error messages, shopify-api.md §1.6)."""
    count = getattr(found, "_shopify_requests", 0) + 1
    found._shopify_requests = count  # type: ignore[attr-defined]
    digest = hmac.new(found.domain.encode(), str(count).encode(), "sha256").hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


@blueprint.errorhandler(SimError)
def _refused(exc: SimError) -> Response:
    return shopify_error(exc)


def shopify_error(exc: SimError) -> Response:
    """A domain refusal in Shopify's ``{"errors": …}`` shapes (shopify-api.md §1.6)."""
    status = status_for(exc)
    headers: dict[str, str] = {}
    body: Any
    if isinstance(exc, Unauthorized):
        body = INVALID_TOKEN
    elif isinstance(exc, NotFound):
        body = "Not Found"
    elif isinstance(exc, RateLimited):
        headers["Retry-After"] = f"{exc.retry_after:.1f}"
        body = exc.message
    elif isinstance(exc, MalformedRequest):
        body = {exc.field: exc.message} if exc.field else exc.message
    elif status == 422:
        field = exc.field
        # A state conflict ("already cancelled") names no input: Shopify lists those without a key.
        if field is None or field == "base" or (isinstance(exc, Conflict) and not isinstance(exc, AlreadyExists)):
            body = [exc.message]
        else:
            body = {field: [_strip_field(exc.message, field)]}
    else:
        body = exc.message
    g.notes = [*getattr(g, "notes", ()), exc.message]
    return add_headers(json_response({"errors": body}, status, headers or None))


def _strip_field(message: str, field: str) -> str:
    """Shopify names the field once, as the key: ``{"email": ["has already been taken"]}``."""
    for prefix in (f"{field}: ", f"{field} "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


# The resources register their routes on ``blueprint`` when imported.
from rivosim.http.shopify import customers, orders, store  # noqa: E402, F401
