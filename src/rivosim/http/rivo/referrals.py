"""Rivo referrals (rivo-api.md §3.6): list, create, complete."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from rivosim.http.params import path_id, read_body, read_filters
from rivosim.http.rivo.common import many, one, request_shop
from rivosim.http.routing import Routes
from rivosim.kernel.errors import ValidationFailed
from rivosim.wire import rivo as wire

__all__ = ["routes"]

routes = Routes()


@routes.route("/referrals", "GET", "rivo.referrals.list")
def referrals_list() -> Response:
    filters = read_filters(request, ("customer_identifier", "status"))
    rivo = request_shop().rivo
    items = rivo.list_referrals(filters.get("customer_identifier"))
    if "status" in filters:
        items = [r for r in items if r.status == filters["status"]]
    return many("referral", items, lambda r: r.id, lambda r: wire.referral(r, rivo),
                 sort_fields=("id", "created_at", "completed_at"))


@routes.route("/referrals", "POST", "rivo.referrals.create")
def referrals_create() -> Response:
    rivo = request_shop().rivo
    referral = rivo.create_referral(read_body(request))
    return one("referral", referral.id, wire.referral(referral, rivo), 201)


@routes.route("/referrals/<referral_id>/complete", "POST", "rivo.referrals.complete")
def referrals_complete(referral_id: str) -> Response:
    rivo = request_shop().rivo
    body = read_body(request, required=False)
    order_id = body.get("order_id")
    if order_id is not None and (isinstance(order_id, bool) or not isinstance(order_id, int)):
        raise ValidationFailed("order_id must be an integer", field="order_id")
    referral = rivo.complete_referral(path_id(referral_id, "referral id", "rivo"), order_id=order_id)
    return one("referral", referral.id, wire.referral(referral, rivo))
