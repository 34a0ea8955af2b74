"""The Rivo merchant API, ``/merchant_api/v1`` (rivo-api.md §1-§3): auth, envelopes, pagination, and every
endpoint of the catalogue except memberships. Views are thin: parse, call ``RivoBackend``, wrap with ``wire``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, request
from flask.globals import _cv_request
from werkzeug.wrappers import Request, Response

from rivosim.domain.shop import Shop
from rivosim.faults.ratelimit import BucketSpec
from rivosim.faults.read_lag import LagEntry
from rivosim.http.app import REQ_KEY, ROUTE_NAMES, RequestState, register_gate
from rivosim.http.errors import error_response, json_response
from rivosim.http.lag import hide_newer, stale_member, stale_members
from rivosim.http.params import read_body, read_filters, read_page, read_sort, whole_number
from rivosim.http.rivo.key_hints import key_problem
from rivosim.kernel.errors import ApiAccessDenied, NotFound, Unauthorized, ValidationFailed
from rivosim.wire import rivo as wire

__all__ = ["PREFIX", "blueprint"]

PREFIX = "/merchant_api/v1"
blueprint = Blueprint("rivo", __name__, url_prefix=PREFIX)


def route(rule: str, method: str, name: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Declare a route under a stable name (``rivo.customers.get``) used by faults, limits and the journal."""
    endpoint = name.split(".", 1)[1].replace(".", "__")
    ROUTE_NAMES[f"rivo.{endpoint}"] = name

    def wrap(view: Callable[..., Response]) -> Callable[..., Response]:
        blueprint.add_url_rule(rule, endpoint=endpoint, view_func=view, methods=[method])
        return view

    return wrap


if TYPE_CHECKING:
    from rivosim.engine import Simulator


def _authenticate(sim: Simulator, state: RequestState, req: Request) -> Response | None:
    """The pipeline's tenant + auth stage for this API. Raw key in ``Authorization`` (rivo-api.md §1.2,
    CONFIRMED); ``Bearer `` only when the shop allows it (OBSERVED: the live API answers 401 to it)."""
    environ = req.environ
    header = environ.get("HTTP_AUTHORIZATION")
    if header is None or header == "":
        raise Unauthorized("missing API key: send it raw in the Authorization header (Authorization: <api key>)")
    # RFC 9110 §5.5: whitespace (SP, HTAB) around a field value is not part of it; every proxy strips it.
    presented = header.strip(" \t")
    bearer = False
    if presented[:7].lower() == "bearer ":
        presented, bearer = presented[7:].lstrip(" \t"), True
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


def _rate_limit(sim: Simulator, state: RequestState, req: Request) -> Response | None:
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
    decision = sim.limiter.check(f"rivo:{shop.credentials.rivo_api_key}", spec, state.at)
    if decision is None or decision.allowed:
        return None
    wait = max(1, math.ceil(decision.retry_after))
    state.limit = (f"rivo {spec.rate:g}/s burst {spec.burst:g} per API key: refused; tokens back in "
                   f"{decision.retry_after:.3f} s")
    return error_response("rivo", 429, f"Too many requests: at most {spec.rate:g} requests per second per API key; "
                          f"retry after {wait} s", code="rate_limited", headers={"Retry-After": str(wait)})


register_gate("rivo", _authenticate, _rate_limit)


def _state() -> RequestState:
    return _cv_request.get().request.environ[REQ_KEY]  # type: ignore[no-any-return]


def _shop() -> Shop:
    return _state().shop  # type: ignore[return-value]


def _lag_view(shop: Shop) -> dict[int, LagEntry] | None:
    """What lags for this shop now (read-after-write lag), or None: the usual case costs one truth test."""
    lag = current_app.sim.lag  # type: ignore[attr-defined]
    return lag.view(shop.domain, _state().at) if lag else None


def _one(type_: str, id_: Any, attributes: dict[str, Any], status: int = 200) -> Response:
    return json_response({"data": wire.envelope(type_, id_, attributes)}, status)


def _many(type_: str, items: Sequence[Any], id_of: Callable[[Any], int], to_attrs: Callable[[Any], dict[str, Any]],
          *, sort_fields: Sequence[str] = ("id", "created_at"), sort_key: Callable[[Any, str], Any] | None = None,
          ids_sorted: bool = True) -> Response:
    """A collection response. ``ids_sorted`` says whether ``items`` come in ascending id order (cursor mode
    relies on it; pass False when the natural order is something else)."""
    field, desc = read_sort(request, sort_fields)
    if field is not None:
        key = sort_key or (lambda obj, f: getattr(obj, f))
        items = sorted(items, key=lambda obj: (_sortable(key(obj, field)), id_of(obj)), reverse=desc)
    elif desc:
        items = list(reversed(items))
    page = read_page(request, items, id_of, ids_sorted=ids_sorted and field is None and not desc)
    data = [wire.envelope(type_, id_of(obj), to_attrs(obj)) for obj in page.items]
    return json_response({"links": page.links, "data": data})


def _sortable(value: Any) -> Any:
    if value is None:
        return (0, "")
    if isinstance(value, datetime):
        return (1, value.timestamp())
    return (1, value)


def _int_path(value: str, what: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise ValidationFailed(f"{what} must be a numeric id, got {value!r}", field="id")
    number = whole_number(value)
    if number is None:  # digits, but longer than any id
        raise NotFound(f"{what} {value[:30]}... not found", resource=what.split(" id")[0].replace(" ", "_"))
    return number


# -- customers ------------------------------------------------------------------------------------------
@route("/customers", "GET", "rivo.customers.list")
def customers_list() -> Response:
    read_filters(request, ())
    shop = _shop()
    members = stale_members(_lag_view(shop), shop.rivo.ordered_members())
    return _many("customer", members, lambda m: m.id, lambda m: wire.customer(m, shop),
                 sort_fields=("id", "created_at", "points_tally", "email"))


@route("/customers/<identifier>", "GET", "rivo.customers.get")
def customers_get(identifier: str) -> Response:
    shop = _shop()
    member = stale_member(_lag_view(shop), shop.rivo.find_member(identifier))
    return _one("customer", member.id, wire.customer(member, shop))


@route("/customers/<identifier>/advocate_stats", "GET", "rivo.customers.advocate_stats")
def customers_advocate_stats(identifier: str) -> Response:
    # rivo-api.md §1.6 (OBSERVED quirk): this returns the plain customer object.
    return customers_get(identifier)


@route("/customers/<identifier>", "PUT", "rivo.customers.update")
def customers_update(identifier: str) -> Response:
    shop = _shop()
    body = read_body(request)
    fields = body.get("customer", body) if isinstance(body.get("customer"), dict) else body
    member = shop.rivo.update_member(identifier, fields)
    return _one("customer", member.id, wire.customer(member, shop))


@route("/customers/<identifier>/vip_tier", "POST", "rivo.customers.vip_tier.update")
def customers_vip_tier_update(identifier: str) -> Response:
    shop = _shop()
    body = read_body(request)
    unknown = set(body) - {"vip_tier_id", "internal_note", "external_note"}
    if unknown:
        raise ValidationFailed(f"unknown parameter {sorted(unknown)[0]}; accepted: vip_tier_id, internal_note, "
                               "external_note", field=sorted(unknown)[0])
    member = shop.rivo.set_member_tier(identifier, body.get("vip_tier_id"), internal_note=body.get("internal_note"),
                                       external_note=body.get("external_note"))
    return _one("customer", member.id, wire.customer(member, shop))


# -- rewards --------------------------------------------------------------------------------------------
def _reward_attrs(shop: Shop) -> Callable[[Any], dict[str, Any]]:
    points_name = shop.settings.program.points_name
    return lambda r: wire.reward(r, points_name)


@route("/rewards", "GET", "rivo.rewards.list")
def rewards_list() -> Response:
    read_filters(request, ())
    shop = _shop()
    return _many("rewards", shop.rivo.list_rewards(), lambda r: r.id, _reward_attrs(shop),
                 sort_fields=("id", "created_at", "updated_at", "points_amount", "name"))


def _reward_body() -> dict[str, Any]:
    body = read_body(request)
    inner = body.get("reward")
    return inner if isinstance(inner, dict) else body


@route("/rewards", "POST", "rivo.rewards.create")
def rewards_create() -> Response:
    shop = _shop()
    reward = shop.rivo.create_reward(_reward_body())
    return _one("rewards", reward.id, _reward_attrs(shop)(reward), 201)


@route("/rewards/<reward_id>", "PUT", "rivo.rewards.update")
def rewards_update(reward_id: str) -> Response:
    shop = _shop()
    reward = shop.rivo.update_reward(_int_path(reward_id, "reward id"), _reward_body())
    return _one("rewards", reward.id, _reward_attrs(shop)(reward))


@route("/rewards/<reward_id>", "DELETE", "rivo.rewards.delete")
def rewards_delete(reward_id: str) -> Response:
    shop = _shop()
    reward = shop.rivo.delete_reward(_int_path(reward_id, "reward id"))
    return _one("rewards", reward.id, _reward_attrs(shop)(reward))


# -- points events --------------------------------------------------------------------------------------
@route("/points_events", "GET", "rivo.points_events.list")
def points_events_list() -> Response:
    filters = read_filters(request, ("customer_identifier", "source"))
    shop = _shop()
    rivo = shop.rivo
    events = hide_newer(_lag_view(shop), rivo.list_points_events(filters.get("customer_identifier")), "points_event")
    if "source" in filters:
        events = [e for e in events if e.source == filters["source"]]
    return _many("points_event", events, lambda e: e.id, wire.points_event,
                 sort_fields=("id", "applied_at", "created_at", "points_diff"))


@route("/points_events", "POST", "rivo.points_events.create")
def points_events_create() -> Response:
    event = _shop().rivo.create_points_event(read_body(request))
    return _one("points_event", event.id, wire.points_event(event), 201)


@route("/points_events/batch", "POST", "rivo.points_events.batch")
def points_events_batch() -> Response:
    body = read_body(request)
    if "points_events" not in body:
        raise ValidationFailed("points_events is required: {\"points_events\": [ {...}, ... ]} (at most 10)",
                               field="points_events")
    events = _shop().rivo.create_points_events_batch(body["points_events"])
    return json_response({"data": [wire.envelope("points_event", e.id, wire.points_event(e)) for e in events]}, 201)


# -- redemptions ----------------------------------------------------------------------------------------
@route("/points_redemptions", "GET", "rivo.points_redemptions.list")
def points_redemptions_list() -> Response:
    filters = read_filters(request, ("customer_identifier", "used", "refunded_at", "revoked_at"))
    shop = _shop()
    rivo = shop.rivo
    items = hide_newer(_lag_view(shop), rivo.list_redemptions(filters.get("customer_identifier")),
                       "points_redemption")
    if "used" in filters:
        if filters["used"] not in ("true", "false"):
            raise ValidationFailed("filters[used] must be true or false", field="filters[used]")
        want = filters["used"] == "true"
        items = [r for r in items if (r.used_at is not None) == want]
    for name in ("refunded_at", "revoked_at"):
        if name in filters:
            if filters[name] != "null":
                raise ValidationFailed(f"filters[{name}] supports only null", field=f"filters[{name}]")
            items = [r for r in items if getattr(r, name) is None]
    return _many("points_redemption", items, lambda r: r.id, lambda r: wire.redemption(r, rivo),
                 sort_fields=("id", "applied_at", "created_at"),
                 sort_key=lambda r, f: r.applied_at if f == "created_at" else getattr(r, f))


@route("/points_redemptions", "POST", "rivo.points_redemptions.create")
def points_redemptions_create() -> Response:
    rivo = _shop().rivo
    redemption = rivo.redeem_reward(read_body(request))
    return _one("points_redemption", redemption.id, wire.redemption(redemption, rivo), 201)


# -- vip tiers ------------------------------------------------------------------------------------------
@route("/vip_tiers", "GET", "rivo.vip_tiers.list")
def vip_tiers_list() -> Response:
    read_filters(request, ())
    rivo = _shop().rivo
    tiers = rivo.list_tiers() if rivo.vip_available() else []
    # Tiers come in threshold order, which need not be id order (cursor mode re-orders by id).
    return _many("vip_tier", tiers, lambda t: t.id, lambda t: wire.vip_tier(t, rivo, full=True) or {},
                 sort_fields=("id", "threshold", "name", "created_at"), ids_sorted=False)


@route("/vip_tiers/<tier_id>", "GET", "rivo.vip_tiers.get")
def vip_tiers_get(tier_id: str) -> Response:
    rivo = _shop().rivo
    number = _int_path(tier_id, "vip tier id")
    if not rivo.vip_available():
        # Below the Scale plan (or with VIP off) the list is empty; a tier is not reachable by id either.
        raise NotFound(f"vip tier {number} not found: the VIP program is not available on this shop",
                       resource="vip_tier", id=number)
    tier = rivo.get_tier(number)
    return _one("vip_tier", tier.id, wire.vip_tier(tier, rivo, full=True) or {})


# -- referrals ------------------------------------------------------------------------------------------
@route("/referrals", "GET", "rivo.referrals.list")
def referrals_list() -> Response:
    filters = read_filters(request, ("customer_identifier", "status"))
    rivo = _shop().rivo
    items = rivo.list_referrals(filters.get("customer_identifier"))
    if "status" in filters:
        items = [r for r in items if r.status == filters["status"]]
    return _many("referral", items, lambda r: r.id, lambda r: wire.referral(r, rivo),
                 sort_fields=("id", "created_at", "completed_at"))


@route("/referrals", "POST", "rivo.referrals.create")
def referrals_create() -> Response:
    rivo = _shop().rivo
    referral = rivo.create_referral(read_body(request))
    return _one("referral", referral.id, wire.referral(referral, rivo), 201)


@route("/referrals/<referral_id>/complete", "POST", "rivo.referrals.complete")
def referrals_complete(referral_id: str) -> Response:
    rivo = _shop().rivo
    body = read_body(request, required=False)
    order_id = body.get("order_id")
    if order_id is not None and (isinstance(order_id, bool) or not isinstance(order_id, int)):
        raise ValidationFailed("order_id must be an integer", field="order_id")
    referral = rivo.complete_referral(_int_path(referral_id, "referral id"), order_id=order_id)
    return _one("referral", referral.id, wire.referral(referral, rivo))


# -- webhooks -------------------------------------------------------------------------------------------
def _webhook_attrs(shop: Shop) -> Callable[[Any], dict[str, Any]]:
    return lambda sub: wire.webhook(sub, shop.credentials.webhook_secret)


def _webhook_body() -> dict[str, Any]:
    body = read_body(request)
    inner = body.get("webhook")
    return inner if isinstance(inner, dict) else body


@route("/webhooks", "GET", "rivo.webhooks.list")
def webhooks_list() -> Response:
    read_filters(request, ())
    shop = _shop()
    return _many("webhook", sorted(shop.rivo.subscriptions.values(), key=lambda s: s.id), lambda s: s.id,
                 _webhook_attrs(shop), sort_fields=("id", "created_at", "event_type"))


@route("/webhooks", "POST", "rivo.webhooks.create")
def webhooks_create() -> Response:
    shop = _shop()
    sub = shop.rivo.create_subscription(_webhook_body())
    return _one("webhook", sub.id, _webhook_attrs(shop)(sub), 201)


@route("/webhooks/<sub_id>", "PUT", "rivo.webhooks.update")
def webhooks_update(sub_id: str) -> Response:
    shop = _shop()
    sub = shop.rivo.update_subscription(_int_path(sub_id, "webhook id"), _webhook_body())
    return _one("webhook", sub.id, _webhook_attrs(shop)(sub))


@route("/webhooks/<sub_id>", "DELETE", "rivo.webhooks.delete")
def webhooks_delete(sub_id: str) -> Response:
    shop = _shop()
    sub = shop.rivo.delete_subscription(_int_path(sub_id, "webhook id"))
    return _one("webhook", sub.id, _webhook_attrs(shop)(sub))


# -- program information ----------------------------------------------------------------------------------
@route("/earning_rules", "GET", "rivo.earning_rules.list")
def earning_rules_list() -> Response:
    filters = read_filters(request, ("trigger", "status"))
    shop = _shop()
    rules = shop.rivo.list_earning_rules()
    if "trigger" in filters:
        rules = [r for r in rules if r.trigger == filters["trigger"]]
    if "status" in filters:
        rules = [r for r in rules if ("active" if r.enabled else "inactive") == filters["status"]]
    currency = shop.settings.currency
    return _many("earning_rule", rules, lambda r: r.id, lambda r: wire.earning_rule(r, currency),
                 sort_fields=("id",))


@route("/widget_events", "GET", "rivo.widget_events.list")
def widget_events_list() -> Response:
    read_filters(request, ())
    return _many("widget_event", _shop().rivo.list_widget_events(), lambda w: w.id, wire.widget_event,
                 sort_fields=("id", "occurred_at"))


@route("/shop", "GET", "rivo.shop.get")
def shop_get() -> Response:
    shop = _shop()
    return _one("shop", shop.id, wire.shop_settings(shop))

