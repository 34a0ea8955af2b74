"""Admin REST store resources: the shop, metafields on the shop, customers and orders (shopify-api.md §1.4),
themes and their assets with the app-embed ``config/settings_data.json`` (§7), and the app's webhook
subscriptions (§1.5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from rivosim.domain.shopify.models import Metafield, Theme, WebhookSubscription
from rivosim.http.errors import json_response
from rivosim.http.shopify.blueprint import route, shop
from rivosim.http.shopify.params import (
    PageRequest,
    fields_param,
    id_path,
    int_param,
    only,
    paged,
    read_json,
    read_page_request,
    time_window,
)
from rivosim.kernel.errors import MalformedRequest, NotFound, ValidationFailed
from rivosim.wire import shopify as wire

__all__: list[str] = []


@route("/shop.json", "GET", "shopify.shop.get", None)
def shop_get() -> Response:
    return json_response({"shop": only(wire.shop(shop()), fields_param())})


# -- metafields -----------------------------------------------------------------------------------------------
_MF_FILTERS = ("since_id", "created_at_min", "created_at_max", "updated_at_min", "updated_at_max", "namespace", "key",
               "type", "metafield[owner_id]", "metafield[owner_resource]")


def _mf_json(mf: Metafield) -> dict[str, Any]:
    return wire.metafield(mf, shop().settings.timezone)


def _owner(resource: str, raw_id: str | None) -> tuple[str, int]:
    """``(owner_resource, owner_id)`` for a metafield route; the owner must exist (404 otherwise)."""
    sf = shop().shopify
    if resource == "shop":
        return "shop", sf.shop_id
    owner_id = id_path(raw_id or "")
    try:
        sf.check_owner(resource, owner_id)
    except NotFound as exc:
        raise NotFound("Not Found") from exc
    return resource, owner_id


def _metafields_matching(resource: str, owner_id: int, args: dict[str, str]) -> list[Metafield]:
    sf = shop().shopify
    if resource == "shop" and args.get("metafield[owner_resource]"):
        # GET /metafields.json?metafield[owner_id]=…&metafield[owner_resource]=customer (shopify-api.md §1.4)
        other = args["metafield[owner_resource]"]
        if other not in ("shop", "customer", "order"):
            raise MalformedRequest("owner_resource must be shop, customer or order", field="metafield[owner_resource]")
        resource, owner_id = _owner(other, args.get("metafield[owner_id]")) if other != "shop" else ("shop", owner_id)
    tz = shop().settings.timezone
    since = int_param(args, "since_id")
    created, updated = time_window(args, "created_at", tz), time_window(args, "updated_at", tz)
    return sorted((m for m in sf.metafields_of(resource, owner_id)
                   if (since is None or m.id > since)
                   and all(args.get(k) in (None, "", getattr(m, k)) for k in ("namespace", "key", "type"))
                   and created(m.created_at) and updated(m.updated_at)), key=lambda m: m.id)


def _metafield_routes(resource: str, base: str, read: str | None, write: str | None) -> None:
    """Register list/count/get/create/update/delete for metafields owned by ``resource`` under ``base``."""
    prefix = f"shopify.{resource}_metafields"

    def owner(kwargs: dict[str, str]) -> tuple[str, int]:
        return _owner(resource, kwargs.get("owner_id"))

    def listing(**kwargs: str) -> Response:
        res, oid = owner(kwargs)
        page: PageRequest = read_page_request(_MF_FILTERS)
        return paged("metafields", _metafields_matching(res, oid, page.filters), lambda m: m.id, _mf_json, page)

    def count(**kwargs: str) -> Response:
        res, oid = owner(kwargs)
        return json_response({"count": len(_metafields_matching(res, oid, dict(request.args)))})

    def get(metafield_id: str, **kwargs: str) -> Response:
        res, oid = owner(kwargs)
        mf = shop().shopify.get_metafield(id_path(metafield_id), *_scope(res, oid))
        return json_response({"metafield": only(_mf_json(mf), fields_param())})

    def create(**kwargs: str) -> Response:
        res, oid = owner(kwargs)
        mf = shop().shopify.create_metafield(res, oid, read_json("metafield"))
        return json_response({"metafield": _mf_json(mf)}, 201)

    def update(metafield_id: str, **kwargs: str) -> Response:
        res, oid = owner(kwargs)
        fields = read_json("metafield")
        fields.pop("id", None)
        fields.pop("owner_id", None)
        fields.pop("owner_resource", None)
        mf = shop().shopify.update_metafield(id_path(metafield_id), fields, *_scope(res, oid))
        return json_response({"metafield": _mf_json(mf)})

    def delete(metafield_id: str, **kwargs: str) -> Response:
        res, oid = owner(kwargs)
        shop().shopify.delete_metafield(id_path(metafield_id), *_scope(res, oid))
        return json_response({})

    views: list[tuple[str, str, str, Callable[..., Response], str | None]] = [
        ("/metafields.json", "GET", "list", listing, read), ("/metafields/count.json", "GET", "count", count, read),
        ("/metafields/<metafield_id>.json", "GET", "get", get, read),
        ("/metafields.json", "POST", "create", create, write),
        ("/metafields/<metafield_id>.json", "PUT", "update", update, write),
        ("/metafields/<metafield_id>.json", "DELETE", "delete", delete, write),
    ]
    for rule, method, action, view, scope in views:
        view.__name__ = f"{resource}_metafields_{action}"
        route(base + rule, method, f"{prefix}.{action}", scope)(view)


def _scope(resource: str, owner_id: int) -> tuple[str | None, int | None]:
    # /metafields/{id}.json reaches a metafield of any owner (Shopify answers it by id); nested routes only
    # their owner's.
    return (None, None) if resource == "shop" else (resource, owner_id)


_metafield_routes("shop", "", None, None)
_metafield_routes("customer", "/customers/<owner_id>", "read_customers", "write_customers")
_metafield_routes("order", "/orders/<owner_id>", "read_orders", "write_orders")


# -- themes and assets ----------------------------------------------------------------------------------------
def _theme_json(t: Theme) -> dict[str, Any]:
    return wire.theme(t, shop().settings.timezone)


@route("/themes.json", "GET", "shopify.themes.list", "read_themes")
def themes_list() -> Response:
    role = request.args.get("role")
    themes = [t for t in shop().shopify.themes.values() if role in (None, "", t.role)]
    fields = fields_param()
    return json_response({"themes": [only(_theme_json(t), fields) for t in themes]})


@route("/themes/<theme_id>.json", "GET", "shopify.themes.get", "read_themes")
def themes_get(theme_id: str) -> Response:
    return json_response({"theme": only(_theme_json(shop().shopify.get_theme(id_path(theme_id))), fields_param())})


@route("/themes.json", "POST", "shopify.themes.create", "write_themes")
def themes_create() -> Response:
    body = read_json("theme")
    theme = shop().shopify.create_theme(body.get("name"), role=body.get("role", "unpublished"),
                                        app_embed="missing")
    return json_response({"theme": _theme_json(theme)}, 201)


@route("/themes/<theme_id>.json", "PUT", "shopify.themes.update", "write_themes")
def themes_update(theme_id: str) -> Response:
    """``{"theme": {"role": "main"}}`` publishes the theme (``themes/publish``); ``name`` renames it."""
    sf = shop().shopify
    theme = sf.get_theme(id_path(theme_id))
    body = read_json("theme")
    role = body.get("role")
    if role is not None and role != theme.role and role != "main":
        raise ValidationFailed("role can only be changed to main (publishing); publish another theme to "
                                   "unpublish this one", field="role")
    if "name" in body:
        sf.rename_theme(theme.id, body["name"])
    if role == "main":
        sf.publish_theme(theme.id)
    return json_response({"theme": _theme_json(theme)})


@route("/themes/<theme_id>/assets.json", "GET", "shopify.assets.list", "read_themes")
def assets_list(theme_id: str) -> Response:
    sf = shop().shopify
    theme = sf.get_theme(id_path(theme_id))
    tz = shop().settings.timezone
    key = request.args.get("asset[key]")
    if key is not None:
        return json_response({"asset": only(wire.asset(sf.get_asset(theme.id, key), theme.id, tz), fields_param())})
    return json_response({"assets": [only(wire.asset(a, theme.id, tz, with_value=False), fields_param())
                                     for a in sorted(theme.assets.values(), key=lambda a: a.key)]})


@route("/themes/<theme_id>/assets.json", "PUT", "shopify.assets.update", "write_themes")
def assets_update(theme_id: str) -> Response:
    sf = shop().shopify
    theme = sf.get_theme(id_path(theme_id))
    body = read_json("asset")
    asset = sf.put_asset(theme.id, body.get("key"), body.get("value"))
    return json_response({"asset": wire.asset(asset, theme.id, shop().settings.timezone, with_value=False)})


# -- webhook subscriptions ------------------------------------------------------------------------------------
_WH_FILTERS = ("address", "topic", "since_id", "created_at_min", "created_at_max", "updated_at_min",
               "updated_at_max")


def _wh_json(w: WebhookSubscription) -> dict[str, Any]:
    return wire.webhook(w, shop().settings.timezone)


def _webhooks_matching(args: dict[str, str]) -> list[WebhookSubscription]:
    tz = shop().settings.timezone
    since = int_param(args, "since_id")
    created, updated = time_window(args, "created_at", tz), time_window(args, "updated_at", tz)
    return sorted((w for w in shop().shopify.webhook_subscriptions.values()
                   if (since is None or w.id > since) and args.get("topic") in (None, "", w.topic)
                   and args.get("address") in (None, "", w.address)
                   and created(w.created_at) and updated(w.updated_at)), key=lambda w: w.id)


@route("/webhooks.json", "GET", "shopify.webhooks.list", None)
def webhooks_list() -> Response:
    page = read_page_request(_WH_FILTERS)
    return paged("webhooks", _webhooks_matching(page.filters), lambda w: w.id, _wh_json, page)


@route("/webhooks/count.json", "GET", "shopify.webhooks.count", None)
def webhooks_count() -> Response:
    return json_response({"count": len(_webhooks_matching(dict(request.args)))})


@route("/webhooks/<webhook_id>.json", "GET", "shopify.webhooks.get", None)
def webhooks_get(webhook_id: str) -> Response:
    sub = shop().shopify.get_webhook_subscription(id_path(webhook_id))
    return json_response({"webhook": only(_wh_json(sub), fields_param())})


@route("/webhooks.json", "POST", "shopify.webhooks.create", None)
def webhooks_create() -> Response:
    from flask import g

    body = read_json("webhook")
    sub = shop().shopify.create_webhook_subscription(body, g.shopify_version)
    return json_response({"webhook": _wh_json(sub)}, 201)


@route("/webhooks/<webhook_id>.json", "PUT", "shopify.webhooks.update", None)
def webhooks_update(webhook_id: str) -> Response:
    body = read_json("webhook")
    body.pop("id", None)
    sub = shop().shopify.update_webhook_subscription(id_path(webhook_id), body)
    return json_response({"webhook": _wh_json(sub)})


@route("/webhooks/<webhook_id>.json", "DELETE", "shopify.webhooks.delete", None)
def webhooks_delete(webhook_id: str) -> Response:
    shop().shopify.delete_webhook_subscription(id_path(webhook_id))
    return json_response({})
