"""Control API for outbound webhooks: the delivery log (every attempt), redelivery, and each shop's trigger
log (every topic fired, subscribed or not — what property tests compare against the README's table).
"""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from rivosim.http.errors import json_response
from rivosim.http.routing import ApiBlueprint, Routes, current_sim
from rivosim.http.state import current_req
from rivosim.kernel.errors import Conflict, NotFound, ValidationFailed

__all__ = ["blueprint"]

routes = Routes()
route = routes.route
blueprint = ApiBlueprint("control_webhooks", __name__, api="control", url_prefix="/_rivosim",
                         routes=(routes,))
_STATUSES = ("pending", "in_flight", "delivered", "failed")



_sim = current_sim


@route("/webhooks/deliveries", "GET", "control.webhooks.deliveries.list")
def deliveries_list() -> Response:
    args = request.args
    unknown = set(args) - {"shop", "topic", "status", "api", "body"}
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(f"unknown parameter {name}; accepted: shop, topic, status, api, body", field=name)
    status = args.get("status")
    if status is not None and status not in _STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(_STATUSES)}", field="status")
    api = args.get("api")
    if api is not None and api not in ("rivo", "shopify"):
        raise ValidationFailed("api must be rivo or shopify", field="api")
    shop = args.get("shop")
    if shop is not None:
        current_req().shop = _sim().shop(shop)
    with_body = args.get("body", "true") != "false"
    items = _sim().outbox.list(shop=shop, topic=args.get("topic"), status=status, api=api)
    return json_response({"deliveries": [d.to_dict(body=with_body) for d in items],
                          # dropped: refused while the log was full; with ?shop, that shop's counts only
                          "outbox": _sim().outbox.stats(shop)})


@route("/webhooks/deliveries/<delivery_id>", "GET", "control.webhooks.deliveries.get")
def deliveries_get(delivery_id: str) -> Response:
    delivery = _sim().outbox.deliveries.get(delivery_id)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id!r}", resource="delivery")
    return json_response(delivery.to_dict())


@route("/webhooks/deliveries/<delivery_id>/redeliver", "POST", "control.webhooks.deliveries.redeliver")
def deliveries_redeliver(delivery_id: str) -> Response:
    outbox = _sim().outbox
    if delivery_id not in outbox.deliveries:
        raise NotFound(f"no delivery {delivery_id!r}", resource="delivery")
    try:
        delivery = outbox.redeliver(delivery_id)
    except ValueError as exc:
        raise Conflict(str(exc), field="status") from exc
    return json_response(delivery.to_dict(), 202)


@route("/shops/<domain>/triggers", "GET", "control.triggers.list")
def triggers_list(domain: str) -> Response:
    shop = _sim().shop(domain)
    current_req().shop = shop
    args = request.args
    log = _sim().triggers.log(domain)
    items = log.items
    if "topic" in args:
        items = [t for t in items if t.topic == args["topic"]]
    if "customer_id" in args:
        raw = args["customer_id"]
        if not raw.isdigit():
            raise ValidationFailed("customer_id must be numeric", field="customer_id")
        items = [t for t in items if t.customer_id == int(raw)]
    if "since" in args:
        raw = args["since"]
        if not raw.isdigit():
            raise ValidationFailed("since must be a whole number (a trigger seq)", field="since")
        items = [t for t in items if t.seq > int(raw)]
    return json_response({"triggers": [t.to_dict() for t in items]})
