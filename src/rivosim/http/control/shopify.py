"""Control API for the Shopify side of a shop, under ``/_rivosim/shops/<domain>/…``: the three sync families
(store, theme, tagging; integration syncs), the simulated storefront, themes and the app embed as the merchant
changes them, the integrations' contents, Shopify webhook deliveries, and installing/uninstalling the app.
Errors are the control API's ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from werkzeug.wrappers import Response

from rivosim.domain.integrations import INTEGRATIONS
from rivosim.domain.shop import Shop
from rivosim.domain.shopify.themes import app_embed_state
from rivosim.domain.syncs import FAMILIES
from rivosim.http.errors import json_response
from rivosim.http.params import read_body, whole_number
from rivosim.http.routing import current_shop, current_sim, route_declarer
from rivosim.kernel.errors import NotFound, ValidationFailed
from rivosim.wire import shopify as wire

__all__ = ["blueprint"]

blueprint = Blueprint("control_shopify", __name__, url_prefix="/_rivosim/shops/<domain>")


route = route_declarer(blueprint)


_sim = current_sim


_shop = current_shop


def _id(value: str, what: str) -> int:
    number = whole_number(value)
    if number is None:
        raise ValidationFailed(f"{what} must be numeric, got {value!r}", field="id")
    return number


# -- syncs ----------------------------------------------------------------------------------------------------
@route("/syncs", "GET", "control.syncs.list")
def syncs_list(domain: str) -> Response:
    shop = _shop(domain)
    return json_response({**shop.syncs.status(), "integrations": shop.integrations.overview()})


def _family(family: str) -> str:
    if family not in FAMILIES:
        raise NotFound(f"no sync {family!r}; syncs: {', '.join(FAMILIES)} (integration syncs: "
                       "POST /_rivosim/shops/<domain>/integrations/<name>/sync)", resource="sync")
    return family


@route("/syncs/<family>", "POST", "control.syncs.run")
def syncs_run(domain: str, family: str) -> Response:
    """Click "Sync Store" / "Sync Theme" (Settings > Troubleshooting) or the tagging "Sync Store" (Settings >
    Shopify Metafields & Tags): queued, then processed in the background on the simulator clock."""
    shop = _shop(domain)
    run = shop.syncs.request(_family(family))
    return json_response(run.to_dict(), 202)


@route("/syncs/<family>", "GET", "control.syncs.get")
def syncs_get(domain: str, family: str) -> Response:
    shop = _shop(domain)
    run = shop.syncs.latest(_family(family))
    if run is None:
        return json_response({"family": family, "status": "idle", "message": "Never synced"})
    return json_response(run.to_dict())


# -- the storefront and themes --------------------------------------------------------------------------------
@route("/storefront", "GET", "control.storefront.get")
def storefront(domain: str) -> Response:
    """Whether the loyalty widget displays on the storefront, and every reason it does not."""
    return json_response(_shop(domain).syncs.storefront())


def _theme_json(shop: Shop, theme: Any) -> dict[str, Any]:
    return {**wire.theme(theme, shop.settings.timezone), "app_embed": app_embed_state(theme)}


@route("/themes", "GET", "control.themes.list")
def themes_list(domain: str) -> Response:
    shop = _shop(domain)
    return json_response({"themes": [_theme_json(shop, t) for t in shop.shopify.themes.values()]})


@route("/themes", "POST", "control.themes.create")
def themes_create(domain: str) -> Response:
    """The merchant adds a theme: ``{"name", "app_embed": "enabled"|"disabled"|"missing", "publish": bool}``."""
    shop = _shop(domain)
    body = read_body(request)
    unknown = set(body) - {"name", "app_embed", "publish"}
    if unknown:
        raise ValidationFailed(f"unknown field {sorted(unknown)[0]}; accepted: app_embed, name, publish",
                               field=sorted(unknown)[0])
    publish = body.get("publish", False)
    if not isinstance(publish, bool):
        raise ValidationFailed("publish must be true or false", field="publish")
    theme = shop.shopify.create_theme(body.get("name"), role="main" if publish else "unpublished",
                                      app_embed=body.get("app_embed", "enabled"))
    return json_response(_theme_json(shop, theme), 201)


@route("/themes/<theme_id>/publish", "POST", "control.themes.publish")
def themes_publish(domain: str, theme_id: str) -> Response:
    shop = _shop(domain)
    theme = shop.shopify.publish_theme(_id(theme_id, "theme id"))
    return json_response(_theme_json(shop, theme))


@route("/themes/<theme_id>/app_embed", "PUT", "control.themes.app_embed")
def themes_app_embed(domain: str, theme_id: str) -> Response:
    """Toggle Rivo's app embed in the theme editor: ``{"state": "enabled"|"disabled"|"missing"}``."""
    shop = _shop(domain)
    body = read_body(request)
    if set(body) != {"state"}:
        raise ValidationFailed('send {"state": "enabled" | "disabled" | "missing"}', field="state")
    tid = _id(theme_id, "theme id")
    shop.shopify.set_app_embed(tid, body["state"])
    return json_response(_theme_json(shop, shop.shopify.get_theme(tid)))


# -- integrations ---------------------------------------------------------------------------------------------
@route("/integrations", "GET", "control.integrations.list")
def integrations_list(domain: str) -> Response:
    return json_response({"integrations": _shop(domain).integrations.overview(),
                          "available": sorted(INTEGRATIONS)})


@route("/integrations/<name>", "GET", "control.integrations.get")
def integrations_get(domain: str, name: str) -> Response:
    """What the platform holds: profiles with their properties, events, and the sync status."""
    shop = _shop(domain)
    limit = whole_number(request.args.get("limit", "1000"))
    if limit is None or not 1 <= limit <= 100_000:
        raise ValidationFailed("limit must be a whole number from 1 to 100000", field="limit")
    return json_response(shop.integrations.describe(name, email=request.args.get("email"), limit=limit))


@route("/integrations/<name>", "PUT", "control.integrations.connect")
def integrations_connect(domain: str, name: str) -> Response:
    """Connect (or reconnect) an integration: ``{"connected_domain"?}`` (default: the shop's domain)."""
    shop = _shop(domain)
    if name not in INTEGRATIONS:
        raise NotFound(f"unknown integration {name!r}; integrations: {', '.join(INTEGRATIONS)}",
                       resource="integration")
    body = read_body(request, required=False)
    if set(body) - {"connected_domain"}:
        raise ValidationFailed("accepted: connected_domain", field=sorted(set(body))[0])
    entry: dict[str, Any] = {"name": name}
    if body.get("connected_domain") is not None:
        entry["connected_domain"] = body["connected_domain"]
    others = [i for i in shop.public_config()["integrations"] if i["name"] != name]
    _sim().patch_shop(domain, {"integrations": [*others, entry]})
    return json_response(shop.integrations.describe(name, limit=1))


@route("/integrations/<name>", "DELETE", "control.integrations.disconnect")
def integrations_disconnect(domain: str, name: str) -> Response:
    shop = _shop(domain)
    shop.integrations.state(name)  # 404 when not connected
    _sim().patch_shop(domain, {"integrations": [i for i in shop.public_config()["integrations"] if i["name"] != name]})
    return json_response({"disconnected": name})


@route("/integrations/<name>/sync", "POST", "control.integrations.sync")
def integrations_sync(domain: str, name: str) -> Response:
    """Click "Sync Customers" on the Data Sync card: queued (202), or refused within the hour (429)."""
    run = _shop(domain).integrations.request_sync(name)
    return json_response(run.to_dict(), 202)


# -- Shopify webhooks and the app -----------------------------------------------------------------------------
@route("/shopify/webhooks/deliveries", "GET", "control.shopify.deliveries")
def shopify_deliveries(domain: str) -> Response:
    _shop(domain)
    args = request.args
    items = _sim().outbox.list(shop=domain, api="shopify", topic=args.get("topic"), status=args.get("status"))
    return json_response({"deliveries": [d.to_dict(body=args.get("body", "true") != "false") for d in items]})


@route("/shopify/app/uninstall", "POST", "control.shopify.app.uninstall")
def shopify_uninstall(domain: str) -> Response:
    """The merchant uninstalls the loyalty app: ``app/uninstalled`` fires, then its token stops working."""
    shop = _shop(domain)
    shop.shopify.uninstall_app()
    return json_response({"domain": domain, "app_installed": False})


@route("/shopify/app/install", "POST", "control.shopify.app.install")
def shopify_install(domain: str) -> Response:
    shop = _shop(domain)
    shop.shopify.reinstall_app()
    return json_response({"domain": domain, "app_installed": True})


@route("/writeback", "GET", "control.writeback.get")
def writeback_get(domain: str) -> Response:
    """Rivo's writeback: the tier tag it wrote per customer, and writes Shopify refused."""
    shop = _shop(domain)
    wb = shop.writeback
    return json_response({"tier_tags": {str(k): v for k, v in wb.tier_tags.items()}, "errors": list(wb.errors),
                          "shop_metafield_current": wb.shop_metafield_is_current()})
