"""Rivo webhook subscriptions (rivo-api.md §2): list, create, update, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from rivosim.domain.shop import Shop
from rivosim.http.params import path_id, read_body, read_filters
from rivosim.http.rivo.common import many, one, request_shop
from rivosim.http.routing import Routes
from rivosim.wire import rivo as wire

__all__ = ["routes"]

routes = Routes()


def _webhook_attrs(shop: Shop) -> Callable[[Any], dict[str, Any]]:
    return lambda sub: wire.webhook(sub, shop.credentials.webhook_secret)


def _webhook_body() -> dict[str, Any]:
    body = read_body(request)
    inner = body.get("webhook")
    return inner if isinstance(inner, dict) else body


@routes.route("/webhooks", "GET", "rivo.webhooks.list")
def webhooks_list() -> Response:
    read_filters(request, ())
    shop = request_shop()
    return many("webhook", sorted(shop.rivo.subscriptions.values(), key=lambda s: s.id), lambda s: s.id,
                 _webhook_attrs(shop), sort_fields=("id", "created_at", "event_type"))


@routes.route("/webhooks", "POST", "rivo.webhooks.create")
def webhooks_create() -> Response:
    shop = request_shop()
    sub = shop.rivo.create_subscription(_webhook_body())
    return one("webhook", sub.id, _webhook_attrs(shop)(sub), 201)


@routes.route("/webhooks/<sub_id>", "PUT", "rivo.webhooks.update")
def webhooks_update(sub_id: str) -> Response:
    shop = request_shop()
    sub = shop.rivo.update_subscription(path_id(sub_id, "webhook id", "rivo"), _webhook_body())
    return one("webhook", sub.id, _webhook_attrs(shop)(sub))


@routes.route("/webhooks/<sub_id>", "DELETE", "rivo.webhooks.delete")
def webhooks_delete(sub_id: str) -> Response:
    shop = request_shop()
    sub = shop.rivo.delete_subscription(path_id(sub_id, "webhook id", "rivo"))
    return one("webhook", sub.id, _webhook_attrs(shop)(sub))
