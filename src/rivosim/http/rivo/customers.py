"""Rivo customers (rivo-api.md §3.1): list, get (by id, email or Shopify id), advocate stats, update, set the
VIP tier."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

from rivosim.http.lag import stale_member, stale_members
from rivosim.http.lean_flask import LeanResponse
from rivosim.http.params import read_body, read_filters
from rivosim.http.rivo.common import encoded_page, lag_view, one, request_shop
from rivosim.http.rivo.shapes import CustomerShapes, page_stamp
from rivosim.http.routing import Routes
from rivosim.http.state import current_req
from rivosim.kernel.errors import ValidationFailed
from rivosim.wire import rivo as wire

if TYPE_CHECKING:
    from rivosim.domain.rivo.models import Member
    from rivosim.domain.shop import Shop

__all__ = ["routes"]

routes = Routes()
SHAPES_KEY = "rivosim.customer_shapes"  # the app's CustomerShapes, in Flask's per-app ``extensions``


@routes.route("/customers", "GET", "rivo.customers.list")
def customers_list() -> Response:
    state = current_req()
    shop = request_shop()
    view = lag_view(shop)
    shapes = _shapes()

    def build(encoder: Callable[[Member], bytes]) -> bytes:
        read_filters(request, ())
        members = stale_members(view, shop.rivo.ordered_members())
        return encoded_page(members, lambda m: m.id, encoder, sort_fields=("id", "created_at", "points_tally", "email"))

    req = state.request
    assert req is not None
    # The page's links name the scheme, host and path it was asked on: all are part of the key.
    url = f"{req.scheme}://{req.host}{req.environ.get('PATH_INFO', '')}?{req.environ.get('QUERY_STRING', '')}"
    body = shapes.page(shop, url, page_stamp(state.sim.journal, shop, view), build)
    return LeanResponse(body, status=200, content_type="application/json")


def _shapes(app: Flask | None = None) -> CustomerShapes:
    extensions = (app or current_app).extensions
    shapes = extensions.get(SHAPES_KEY)
    if shapes is None:
        shapes = extensions[SHAPES_KEY] = CustomerShapes()
    return shapes  # type: ignore[no-any-return]


def customer_body(app: Flask | None, shop: Shop, member: Member) -> bytes:
    """The body of GET customer: the bytes json_response makes of ``{"data": <envelope>}``, the envelope from the
    shape cache (``shapes.py``). Also what the fast reads answer (``fast.py``)."""
    return b'{"data":' + _shapes(app).encoder(shop)(member) + b"}"


@routes.route("/customers/<identifier>", "GET", "rivo.customers.get")
def customers_get(identifier: str) -> Response:
    shop = request_shop()
    member = stale_member(lag_view(shop), shop.rivo.find_member(identifier))
    return LeanResponse(customer_body(None, shop, member), status=200, content_type="application/json")


@routes.route("/customers/<identifier>/advocate_stats", "GET", "rivo.customers.advocate_stats")
def customers_advocate_stats(identifier: str) -> Response:
    # rivo-api.md §1.6 (OBSERVED quirk): this returns the plain customer object.
    return customers_get(identifier)


@routes.route("/customers/<identifier>", "PUT", "rivo.customers.update")
def customers_update(identifier: str) -> Response:
    shop = request_shop()
    body = read_body(request)
    fields = body.get("customer", body) if isinstance(body.get("customer"), dict) else body
    member = shop.rivo.update_member(identifier, fields)
    return one("customer", member.id, wire.customer(member, shop))


@routes.route("/customers/<identifier>/vip_tier", "POST", "rivo.customers.vip_tier.update")
def customers_vip_tier_update(identifier: str) -> Response:
    shop = request_shop()
    body = read_body(request)
    unknown = set(body) - {"vip_tier_id", "internal_note", "external_note"}
    if unknown:
        raise ValidationFailed(f"unknown parameter {sorted(unknown)[0]}; accepted: vip_tier_id, internal_note, "
                               "external_note", field=sorted(unknown)[0])
    member = shop.rivo.set_member_tier(identifier, body.get("vip_tier_id"), internal_note=body.get("internal_note"),
                                       external_note=body.get("external_note"))
    return one("customer", member.id, wire.customer(member, shop))
