"""The control API, ``/_rivosim`` (JSON): the simulator's own interface — shops and their configuration,
the outside world acting on a shop (sign-ups, orders, storefront actions), the clock, reset, state dumps
and the journal. Errors look like ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from rivosim.domain.rivo.members import validate_dob
from rivosim.domain.shop import Shop
from rivosim.domain.shopify.models import Order, ShopifyCustomer
from rivosim.http.control.awaiting import MAX_WAIT, answer_once_delivered, can_defer
from rivosim.http.errors import json_response
from rivosim.http.params import path_id, read_body, whole_number
from rivosim.http.routing import ApiBlueprint, Routes, current_shop, current_sim
from rivosim.http.state import current_req
from rivosim.kernel.clock import parse_duration, parse_instant
from rivosim.kernel.errors import ValidationFailed
from rivosim.wire import rivo as wire
from rivosim.wire.state import snapshot

__all__ = ["blueprint"]

routes = Routes()
route = routes.route
blueprint = ApiBlueprint("control", __name__, api="control", url_prefix="/_rivosim",
                         routes=(routes,))

_sim = current_sim
_shop = current_shop


def _body(required: bool = True) -> dict[str, Any]:
    return read_body(request, required=required)


# -- serialisation of Shopify-side records (the Admin API shapes come with the Shopify surface) -------------
def customer_json(c: ShopifyCustomer, shop: Shop) -> dict[str, Any]:
    member = shop.rivo.members.get(c.id)
    return {
        "id": c.id, "email": c.email, "first_name": c.first_name, "last_name": c.last_name, "phone": c.phone,
        "tags": list(c.tags), "accepts_marketing": c.accepts_marketing, "accepts_sms": c.accepts_sms,
        "verified_email": c.verified_email, "state": c.state, "orders_count": c.orders_count,
        "total_spent": f"{c.total_spent:.2f}", "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
        "rivo_visible_at": member.visible_at.isoformat() if member else None,
        "loyalty": None if member is None else {
            "loyalty_status": member.loyalty_status, "points_tally": member.points_tally,
            "credits_tally": wire.credits(member.credits_tally), "lifetime_points": member.lifetime_points,
            "vip_tier": shop.rivo.tiers[member.vip_tier_id].name if member.vip_tier_id in shop.rivo.tiers else None,
            "referral_code": shop.rivo.referral_code(member.id), "dob": member.dob,
        },
    }


def order_json(o: Order) -> dict[str, Any]:
    return {
        "id": o.id, "name": o.name, "customer_id": o.customer_id, "email": o.email,
        "financial_status": o.financial_status, "fulfillment_status": o.fulfillment_status,
        "currency": o.currency, "subtotal_price": f"{o.subtotal_price:.2f}",
        "total_discounts": f"{o.total_discounts:.2f}", "total_tax": f"{o.total_tax:.2f}",
        "total_price": f"{o.total_price:.2f}", "refunded": f"{o.refunded_amount:.2f}",
        "discount_codes": list(o.discount_codes), "tags": list(o.tags),
        "cancelled_at": o.cancelled_at.isoformat() if o.cancelled_at else None,
        "created_at": o.created_at.isoformat(),
        "line_items": [{"id": li.id, "product_id": li.product_id, "variant_id": li.variant_id, "title": li.title,
                        "quantity": li.quantity, "price": f"{li.price:.2f}"} for li in o.line_items],
    }


# -- shops --------------------------------------------------------------------------------------------------
@route("/shops", "POST", "control.shops.create")
def shops_create() -> Response:
    shop = _sim().create_shop(_body(required=False))
    current_req().shop = shop
    return json_response(shop.credentials_dict(), 201)


@route("/shops", "GET", "control.shops.list")
def shops_list() -> Response:
    return json_response({"shops": [s.credentials_dict() for s in _sim().shops.values()]})


@route("/shops/<domain>", "GET", "control.shops.get")
def shops_get(domain: str) -> Response:
    shop = _shop(domain)
    return json_response({**shop.credentials_dict(), "config": shop.public_config(),
                          "customers": len(shop.shopify.customers)})


@route("/shops/<domain>", "PATCH", "control.shops.patch")
def shops_patch(domain: str) -> Response:
    _shop(domain)
    shop = _sim().patch_shop(domain, _body())
    return json_response({**shop.credentials_dict(), "config": shop.public_config()})


@route("/shops/<domain>", "DELETE", "control.shops.delete")
def shops_delete(domain: str) -> Response:
    _shop(domain)
    _sim().delete_shop(domain)
    current_req().shop = None
    return json_response({"deleted": domain})


@route("/shops/<domain>/api_key/regenerate", "POST", "control.shops.api_key.regenerate")
def shops_regenerate_key(domain: str) -> Response:
    _shop(domain)
    key = _sim().regenerate_api_key(domain)
    return json_response({"domain": domain, "rivo_api_key": key})


# -- the outside world acting on a shop -------------------------------------------------------------------
_CUSTOMER_FIELDS = {"email", "first_name", "last_name", "phone", "tags", "accepts_marketing", "accepts_sms",
                    "verified_email", "note", "joins_program", "dob", "visibility_delay"}


@route("/shops/<domain>/customers", "POST", "control.customers.create")
def customers_create(domain: str) -> Response:
    """A Shopify customer signs up. Rivo sees them after the shop's visibility delay unless
    ``visibility_delay`` (an ISO-8601 duration or seconds; 0 for at once) says otherwise."""
    shop = _shop(domain)
    body = _body(required=False)
    unknown = set(body) - _CUSTOMER_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(f"unknown field {name}; accepted: {', '.join(sorted(_CUSTOMER_FIELDS))}", field=name)
    joins = body.get("joins_program", True)
    if not isinstance(joins, bool):
        raise ValidationFailed("joins_program must be true or false", field="joins_program")
    dob = body.get("dob")
    if dob is not None:
        validate_dob(dob)
    delay = None
    if "visibility_delay" in body:
        try:
            delay = timedelta(seconds=parse_duration(body["visibility_delay"]).seconds)
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="visibility_delay") from exc
    fields = {k: v for k, v in body.items() if k not in ("visibility_delay",)}
    shop.rivo.next_visibility_delay = delay
    try:
        customer = shop.shopify.create_customer(**fields)
    finally:
        shop.rivo.next_visibility_delay = None
    return json_response(customer_json(customer, shop), 201)


@route("/shops/<domain>/customers/<customer_id>", "GET", "control.customers.get")
def customers_get(domain: str, customer_id: str) -> Response:
    shop = _shop(domain)
    customer = shop.shopify.get_customer(path_id(customer_id, "customer id", "control"))
    return json_response(customer_json(customer, shop))


_ORDER_FIELDS = {"customer_id", "line_items", "discount_codes", "total_discounts", "total_tax", "tags", "note",
                 "paid", "source_name"}


@route("/shops/<domain>/orders", "POST", "control.orders.create")
def orders_create(domain: str) -> Response:
    shop = _shop(domain)
    body = _body()
    unknown = set(body) - _ORDER_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(f"unknown field {name}; accepted: {', '.join(sorted(_ORDER_FIELDS))}", field=name)
    customer_id = body.get("customer_id")
    if customer_id is not None and (isinstance(customer_id, bool) or not isinstance(customer_id, int)):
        raise ValidationFailed("customer_id must be an integer", field="customer_id")
    paid = body.get("paid", False)
    if not isinstance(paid, bool):
        raise ValidationFailed("paid must be true or false", field="paid")
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        raise ValidationFailed("note must be a string", field="note")
    source_name = body.get("source_name", "web")
    if not isinstance(source_name, str) or not source_name.strip() or len(source_name) > 255:
        raise ValidationFailed("source_name must be a non-empty string (e.g. web, pos)", field="source_name")
    order = shop.shopify.create_order(
        customer_id=customer_id, line_items=body.get("line_items"),  # type: ignore[arg-type]
        discount_codes=body.get("discount_codes"), total_discounts=body.get("total_discounts", 0),
        total_tax=body.get("total_tax", 0), tags=body.get("tags"), note=note, paid=paid,
        source_name=source_name,
    )
    return json_response(order_json(order), 201)


@route("/shops/<domain>/orders/<order_id>", "GET", "control.orders.get")
def orders_get(domain: str, order_id: str) -> Response:
    shop = _shop(domain)
    return json_response(order_json(shop.shopify.get_order(path_id(order_id, "order id", "control"))))


@route("/shops/<domain>/orders/<order_id>/pay", "POST", "control.orders.pay")
def orders_pay(domain: str, order_id: str) -> Response:
    shop = _shop(domain)
    return json_response(order_json(shop.shopify.pay_order(path_id(order_id, "order id", "control"))))


@route("/shops/<domain>/orders/<order_id>/refund", "POST", "control.orders.refund")
def orders_refund(domain: str, order_id: str) -> Response:
    shop = _shop(domain)
    body = _body(required=False)
    unknown = set(body) - {"amount", "note"}
    if unknown:
        raise ValidationFailed(f"unknown field {sorted(unknown)[0]}; accepted: amount, note", field=sorted(unknown)[0])
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        raise ValidationFailed("note must be a string", field="note")
    oid = path_id(order_id, "order id", "control")
    shop.shopify.refund_order(oid, body.get("amount"), note)
    return json_response(order_json(shop.shopify.get_order(oid)))


@route("/shops/<domain>/orders/<order_id>/cancel", "POST", "control.orders.cancel")
def orders_cancel(domain: str, order_id: str) -> Response:
    shop = _shop(domain)
    body = _body(required=False)
    reason = body.get("reason", "customer")
    return json_response(order_json(shop.shopify.cancel_order(path_id(order_id, "order id", "control"), reason)))


@route("/shops/<domain>/customers/<customer_id>/actions", "POST", "control.customers.actions")
def customers_actions(domain: str, customer_id: str) -> Response:
    """A storefront action: ``{"action": "instagram_follow" | ... , ...fields}``."""
    shop = _shop(domain)
    body = _body()
    action = body.get("action")
    details = {k: v for k, v in body.items() if k != "action"}
    cid = path_id(customer_id, "customer id", "control")
    widget, earned = shop.rivo.record_action(cid, action, details)
    member = shop.rivo.members[cid]
    return json_response({
        "action": action, "customer_id": cid,
        "points_event": wire.points_event(earned) if earned else None,
        "widget_event": wire.widget_event(widget) if widget else None,
        "points_tally": member.points_tally,
    }, 201)


# -- clock, reset, state, journal ---------------------------------------------------------------------------
def _clock_json() -> dict[str, Any]:
    sim = _sim()
    due = sim.clock.next_due()
    return {"now": sim.now().isoformat(), "kind": sim.clock.kind, "next_due": due.isoformat() if due else None,
            "pending": len(sim.clock.pending())}


@route("/clock", "GET", "control.clock.get")
def clock_get() -> Response:
    return json_response(_clock_json())


@route("/clock/advance", "POST", "control.clock.advance")
def clock_advance() -> Response:
    body = _body()
    given = [k for k in ("seconds", "duration") if k in body]
    if len(given) != 1 or set(body) - {"seconds", "duration", "stop_on_delivery"}:
        raise ValidationFailed('send exactly one of {"seconds": n} or {"duration": "P30D"} (and optionally '
                               '"stop_on_delivery": true)', field="duration")
    stop_on_delivery = body.get("stop_on_delivery", False)
    if not isinstance(stop_on_delivery, bool):
        raise ValidationFailed("stop_on_delivery must be true or false", field="stop_on_delivery")
    value = body[given[0]]
    if given[0] == "seconds" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValidationFailed("seconds must be a number", field="seconds")
    if given[0] == "duration" and not isinstance(value, str):
        raise ValidationFailed("duration must be an ISO-8601 duration such as P30D", field="duration")
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=given[0]) from exc
    sim = _sim()
    # On the server shell the deliveries it stopped at are awaited without holding the loop (http/control/awaiting).
    sim.advance(parsed, stop_on_delivery=stop_on_delivery, max_wait=0.0 if can_defer() else MAX_WAIT)
    stopped = stop_on_delivery and sim.clock.stopped_early
    answer = lambda: {**_clock_json(), "stopped_on_delivery": stopped}  # noqa: E731
    return answer_once_delivered(sim, answer) if stop_on_delivery else json_response(answer())


@route("/run_until_idle", "POST", "control.run_until_idle")
def run_until_idle() -> Response:
    """``{"shop"?: domain}`` (or ``?shop=``): stop once that shop's work is done, whatever other shops queue."""
    body = _body(required=False)
    unknown = sorted(set(body) - {"shop"})
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]}; accepted: shop", field=unknown[0])
    shop = body.get("shop", request.args.get("shop"))
    if shop is not None and (not isinstance(shop, str) or not shop):
        raise ValidationFailed("shop must be a shop's myshopify domain", field="shop")
    sim = _sim()
    sim.run_until_idle(shop=shop, max_wait=0.0 if can_defer() else MAX_WAIT)
    return answer_once_delivered(sim, _clock_json, step=lambda: sim.run_until_idle(shop=shop, max_wait=0.0))


@route("/reset", "POST", "control.reset")
def reset() -> Response:
    body = _body(required=False)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValidationFailed("seed must be an integer", field="seed")
    _sim().reset(seed)
    return json_response({"seed": _sim().seed, **_clock_json()})


@route("/state", "GET", "control.state")
def state() -> Response:
    domain = request.args.get("shop")
    if not domain:
        raise ValidationFailed("shop is required: GET /_rivosim/state?shop=<domain>", field="shop")
    shop = _shop(domain)
    limit = whole_number(request.args.get("limit", "1000"))
    if limit is None or not 1 <= limit <= 100_000:
        raise ValidationFailed("limit must be a whole number from 1 to 100000", field="limit")
    return json_response(snapshot(shop, limit))


@route("/journal", "GET", "control.journal")
def journal() -> Response:
    """``?route=`` (a name or glob) ``&shop=&status=&method=&api=&faulted=true|false&since=`` (a sequence number
    or an ISO-8601 instant, exclusive) ``&limit=`` (the newest N). Oldest first; the journal keeps ``cap``."""
    args = request.args
    numbers: dict[str, int | None] = {}
    for name in ("status", "limit"):
        value = args.get(name)
        numbers[name] = None if value is None else whole_number(value)
        if value is not None and (numbers[name] is None or (name == "limit" and numbers[name] == 0)):
            raise ValidationFailed(f"{name} must be a whole number" + (" >= 1" if name == "limit" else ""),
                                   field=name)
    since = args.get("since")
    since_seq = since_at = None
    if since is not None:
        since_seq = whole_number(since)
        if since_seq is None:
            try:
                since_at = parse_instant(since)
            except (TypeError, ValueError) as exc:
                raise ValidationFailed("since must be a sequence number or an ISO-8601 instant", field="since") \
                    from exc
    api = args.get("api")
    if api is not None and api not in ("rivo", "shopify", "control", "unmatched"):
        raise ValidationFailed("api must be rivo, shopify, control or unmatched", field="api")
    faulted = args.get("faulted")
    if faulted is not None and faulted not in ("true", "false"):
        raise ValidationFailed("faulted must be true or false", field="faulted")
    log = _sim().journal
    entries = log.calls(args.get("route"), shop=args.get("shop"), status=numbers["status"], method=args.get("method"),
                        since=since_seq, since_at=since_at, api=api,
                        faulted=None if faulted is None else faulted == "true")
    if numbers["limit"] is not None:
        entries = entries[-numbers["limit"]:]
    return json_response({"entries": [e.to_dict() for e in entries], "cap": log.cap, "dropped": log.dropped})


@route("/bugs", "GET", "control.bugs")
def bugs() -> Response:
    bugs = _sim().bugs  # a ring of the latest (kernel/bugs.py); total counts every bug recorded
    return json_response({"bugs": list(bugs), "total": bugs.total})
