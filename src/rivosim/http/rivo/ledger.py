"""The Rivo ledger (rivo-api.md §3.2, §3.3): points events (list, create, batch) and points redemptions (list,
redeem)."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from rivosim.http.errors import json_response
from rivosim.http.lag import hide_newer
from rivosim.http.params import read_body, read_filters
from rivosim.http.rivo.common import lag_view, many, one, request_shop
from rivosim.http.routing import Routes
from rivosim.kernel.errors import ValidationFailed
from rivosim.wire import rivo as wire

__all__ = ["routes"]

routes = Routes()


@routes.route("/points_events", "GET", "rivo.points_events.list")
def points_events_list() -> Response:
    filters = read_filters(request, ("customer_identifier", "source"))
    shop = request_shop()
    rivo = shop.rivo
    events = hide_newer(lag_view(shop), rivo.list_points_events(filters.get("customer_identifier")), "points_event")
    if "source" in filters:
        events = [e for e in events if e.source == filters["source"]]
    return many("points_event", events, lambda e: e.id, wire.points_event,
                 sort_fields=("id", "applied_at", "created_at", "points_diff"))


@routes.route("/points_events", "POST", "rivo.points_events.create")
def points_events_create() -> Response:
    event = request_shop().rivo.ledger_book.create_points_event(read_body(request))
    return one("points_event", event.id, wire.points_event(event), 201)


@routes.route("/points_events/batch", "POST", "rivo.points_events.batch")
def points_events_batch() -> Response:
    body = read_body(request)
    if "points_events" not in body:
        raise ValidationFailed("points_events is required: {\"points_events\": [ {...}, ... ]} (at most 10)",
                               field="points_events")
    events = request_shop().rivo.ledger_book.create_points_events_batch(body["points_events"])
    return json_response({"data": [wire.envelope("points_event", e.id, wire.points_event(e)) for e in events]}, 201)


# -- redemptions ----------------------------------------------------------------------------------------
@routes.route("/points_redemptions", "GET", "rivo.points_redemptions.list")
def points_redemptions_list() -> Response:
    filters = read_filters(request, ("customer_identifier", "used", "refunded_at", "revoked_at"))
    shop = request_shop()
    rivo = shop.rivo
    items = hide_newer(lag_view(shop), rivo.list_redemptions(filters.get("customer_identifier")),
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
    return many("points_redemption", items, lambda r: r.id, lambda r: wire.redemption(r, rivo),
                 sort_fields=("id", "applied_at", "created_at"),
                 sort_key=lambda r, f: r.applied_at if f == "created_at" else getattr(r, f))


@routes.route("/points_redemptions", "POST", "rivo.points_redemptions.create")
def points_redemptions_create() -> Response:
    rivo = request_shop().rivo
    redemption = rivo.redeem_reward(read_body(request))
    return one("points_redemption", redemption.id, wire.redemption(redemption, rivo), 201)
