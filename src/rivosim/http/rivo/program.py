"""The Rivo program as the API shows it: VIP tiers, earning rules, widget events and the shop's settings
(rivo-api.md §3.5-§3.8)."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from rivosim.http.params import path_id, read_filters
from rivosim.http.rivo.common import many, one, request_shop
from rivosim.http.routing import Routes
from rivosim.kernel.errors import NotFound
from rivosim.wire import rivo as wire

__all__ = ["info_routes", "routes"]

routes = Routes()  # VIP tiers
info_routes = Routes()  # earning rules, widget events, the shop


@routes.route("/vip_tiers", "GET", "rivo.vip_tiers.list")
def vip_tiers_list() -> Response:
    read_filters(request, ())
    rivo = request_shop().rivo
    tiers = rivo.list_tiers() if rivo.vip_available() else []
    # Tiers come in threshold order, which need not be id order (cursor mode re-orders by id).
    return many("vip_tier", tiers, lambda t: t.id, lambda t: wire.vip_tier(t, rivo, full=True) or {},
                 sort_fields=("id", "threshold", "name", "created_at"), ids_sorted=False)


@routes.route("/vip_tiers/<tier_id>", "GET", "rivo.vip_tiers.get")
def vip_tiers_get(tier_id: str) -> Response:
    rivo = request_shop().rivo
    number = path_id(tier_id, "vip tier id", "rivo")
    if not rivo.vip_available():
        # Below the Scale plan (or with VIP off) the list is empty; a tier is not reachable by id either.
        raise NotFound(f"vip tier {number} not found: the VIP program is not available on this shop",
                       resource="vip_tier", id=number)
    tier = rivo.get_tier(number)
    return one("vip_tier", tier.id, wire.vip_tier(tier, rivo, full=True) or {})

@info_routes.route("/earning_rules", "GET", "rivo.earning_rules.list")
def earning_rules_list() -> Response:
    filters = read_filters(request, ("trigger", "status"))
    shop = request_shop()
    rules = shop.rivo.list_earning_rules()
    if "trigger" in filters:
        rules = [r for r in rules if r.trigger == filters["trigger"]]
    if "status" in filters:
        rules = [r for r in rules if ("active" if r.enabled else "inactive") == filters["status"]]
    currency = shop.settings.currency
    return many("earning_rule", rules, lambda r: r.id, lambda r: wire.earning_rule(r, currency),
                 sort_fields=("id",))


@info_routes.route("/widget_events", "GET", "rivo.widget_events.list")
def widget_events_list() -> Response:
    read_filters(request, ())
    return many("widget_event", request_shop().rivo.list_widget_events(), lambda w: w.id, wire.widget_event,
                 sort_fields=("id", "occurred_at"))


@info_routes.route("/shop", "GET", "rivo.shop.get")
def shop_get() -> Response:
    shop = request_shop()
    return one("shop", shop.id, wire.shop_settings(shop))
