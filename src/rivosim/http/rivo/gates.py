"""The Rivo API's gates: tenant + auth by API key, then the per-key rate limit (rivo-api.md §1.2, §1.7)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from rivosim.domain.shop import Shop
from rivosim.faults.ratelimit import BucketSpec
from rivosim.http.errors import error_response
from rivosim.http.rivo.key_hints import key_problem
from rivosim.http.state import RequestState
from rivosim.kernel.errors import ApiAccessDenied, Unauthorized

if TYPE_CHECKING:
    from rivosim.engine import Simulator

__all__ = ["admitted_shop", "authenticate", "rate_limit"]


def authenticate(state: RequestState) -> Response | None:
    """The pipeline's tenant + auth stage for this API. Raw key in ``Authorization`` (rivo-api.md §1.2,
    CONFIRMED); ``Bearer `` only when the shop allows it (OBSERVED: the live API answers 401 to it)."""
    sim, req = state.sim, state.request
    assert req is not None
    environ = req.environ
    header = environ.get("HTTP_AUTHORIZATION")
    if header is None or header == "":
        raise Unauthorized("missing API key: send it raw in the Authorization header (Authorization: <api key>)")
    presented, bearer = _presented(header)
    shop: Shop | None = sim.shop_for_rivo_key(presented)
    if shop is None or not shop.check_rivo_key(presented):
        problem = key_problem(sim, presented)
        if problem is not None:
            state.note(f"the API key {problem}")
            raise Unauthorized(f"invalid API key: it {problem}")
        raise Unauthorized("invalid API key")
    if bearer and not shop.settings.api.accept_bearer:
        state.note("the key was sent as 'Bearer <key>'; this shop only accepts the raw key")
        raise Unauthorized("invalid API key: send the raw key without the 'Bearer ' prefix")
    state.shop = shop
    if not shop.has_api_access():
        status = shop.settings.api.plan_refusal_status
        message = (f"API access requires the Plus plan or higher; {shop.domain} is on the {shop.plan} plan "
                   "(upgrade the plan, then copy the API key again)")
        exc = ApiAccessDenied(message) if status == 403 else Unauthorized(message)
        exc.code = "plan_without_api_access"
        raise exc
    raw_length = environ.get("CONTENT_LENGTH")
    if raw_length:
        limit = shop.settings.api.max_body_bytes
        length = int(raw_length) if raw_length.isdigit() else req.content_length
        if length is not None and length > limit:
            # The shop's own body limit (``api.max_body_bytes``), below the app-wide cap.
            return error_response("rivo", 413, f"the request body is {length} bytes; the limit is {limit}")
    return None


def _presented(header: str) -> tuple[str, bool]:
    """The key in an ``Authorization`` value, and whether it came as ``Bearer <key>``."""
    # RFC 9110 §5.5: whitespace (SP, HTAB) around a field value is not part of it; every proxy strips it.
    presented = header.strip(" \t")
    if presented[:7].lower() == "bearer ":
        return presented[7:].lstrip(" \t"), True
    return presented, False


def admitted_shop(sim: Simulator, environ: dict[str, Any]) -> Shop | None:
    """The shop :func:`authenticate` lets a bodyless request through to, found without changing anything, or None
    whenever it would refuse (or look at a body): the fast reads (``fast.py``) then leave the request to it."""
    header = environ.get("HTTP_AUTHORIZATION")
    if not header or environ.get("CONTENT_LENGTH"):
        return None
    presented, bearer = _presented(header)
    shop = sim.shop_for_rivo_key(presented)
    if shop is None or not shop.check_rivo_key(presented):
        return None
    if (bearer and not shop.settings.api.accept_bearer) or not shop.has_api_access():
        return None
    return shop


def rate_limit(state: RequestState) -> Response | None:
    """15 requests/s per API key with a burst of 15 (rivo-api.md §1.7; ``rate_limits.rivo`` in the shop document),
    refilled on the simulator clock. Over it: 429 in Rivo's error shape, ``Retry-After`` in whole seconds rounded
    up, so a client that waits that long always gets through. A refused request changes nothing."""
    shop = state.shop
    assert shop is not None
    bucket = shop.settings.rate_limits.rivo
    if not bucket.enabled:
        return None
    spec = BucketSpec(rate=float(15 if bucket.rate is None else bucket.rate),
                      burst=float(15 if bucket.burst is None else bucket.burst))
    decision = state.sim.limiter.check(f"rivo:{shop.credentials.rivo_api_key}", spec, state.at)
    if decision is None or decision.allowed:
        return None
    wait = max(1, math.ceil(decision.retry_after))
    state.limit = (f"rivo {spec.rate:g}/s burst {spec.burst:g} per API key: refused; tokens back in "
                   f"{decision.retry_after:.3f} s")
    return error_response("rivo", 429, f"Too many requests: at most {spec.rate:g} requests per second per API key; "
                          f"retry after {wait} s", code="rate_limited", headers={"Retry-After": str(wait)})

