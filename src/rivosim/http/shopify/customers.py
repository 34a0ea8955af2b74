"""Admin REST customers (shopify-api.md §1.2): list, search, count, get, create, update (a ``tags`` string
replaces the whole set) and delete, with inline ``metafields`` on create and update. Read-only fields a client
sends back (ActiveResource saves the whole object) are ignored, as Shopify ignores them.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.wrappers import Response

from rivosim.domain.shopify.metafields import MetafieldInput
from rivosim.domain.shopify.models import ShopifyCustomer
from rivosim.http.errors import json_response
from rivosim.http.shopify.blueprint import route, shop
from rivosim.http.shopify.params import (
    fields_param,
    id_path,
    ids_param,
    int_param,
    only,
    paged,
    read_json,
    read_page_request,
    time_window,
)
from rivosim.kernel.errors import AlreadyExists, SimError, ValidationFailed
from rivosim.wire import shopify as wire

__all__: list[str] = []

_WRITABLE = ("email", "first_name", "last_name", "phone", "tags", "note", "verified_email", "accepts_marketing",
             "state")
_CONSENT_STATES = {"subscribed": True, "not_subscribed": False, "unsubscribed": False, "pending": False,
                   "redacted": False, "invalid": False}
_LIST_FILTERS = ("ids", "since_id", "created_at_min", "created_at_max", "updated_at_min", "updated_at_max")


def _json(c: ShopifyCustomer) -> dict[str, Any]:
    s = shop()
    return wire.customer(c, s.settings.timezone, s.settings.currency)


def _filtered(args: dict[str, str]) -> list[ShopifyCustomer]:
    tz = shop().settings.timezone
    ids = ids_param(args)
    since = int_param(args, "since_id")
    created, updated = time_window(args, "created_at", tz), time_window(args, "updated_at", tz)
    return [c for c in shop().shopify.customers.values()
            if (ids is None or c.id in ids) and (since is None or c.id > since) and created(c.created_at)
            and updated(c.updated_at)]


@route("/customers.json", "GET", "shopify.customers.list", "read_customers")
def customers_list() -> Response:
    page = read_page_request(_LIST_FILTERS)
    return paged("customers", _filtered(page.filters), lambda c: c.id, _json, page)


@route("/customers/search.json", "GET", "shopify.customers.search", "read_customers")
def customers_search() -> Response:
    page = read_page_request(("query", "order"))
    order = page.filters.get("order", "")
    if order and (len(order.split()) > 2 or (len(order.split()) == 2 and order.split()[1].upper() not in
                                              ("ASC", "DESC"))):
        raise ValidationFailed("order must look like 'last_order_date DESC'", field="order")
    # Results come by ascending id whatever ``order`` says (the cursor walks ids).
    found = shop().shopify.search_customers(page.filters.get("query", ""))
    return paged("customers", found, lambda c: c.id, _json, page)


@route("/customers/count.json", "GET", "shopify.customers.count", "read_customers")
def customers_count() -> Response:
    return json_response({"count": len(_filtered(dict(request.args)))})


@route("/customers/<customer_id>.json", "GET", "shopify.customers.get", "read_customers")
def customers_get(customer_id: str) -> Response:
    customer = shop().shopify.get_customer(id_path(customer_id))
    return json_response({"customer": only(_json(customer), fields_param())})


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    changes = {k: body[k] for k in _WRITABLE if k in body}
    consent = body.get("email_marketing_consent")
    if consent is not None:
        if not isinstance(consent, dict) or consent.get("state") not in _CONSENT_STATES:
            raise ValidationFailed(f"email_marketing_consent.state must be one of {', '.join(_CONSENT_STATES)}",
                                   field="email_marketing_consent")
        changes["accepts_marketing"] = _CONSENT_STATES[consent["state"]]
    sms = body.get("sms_marketing_consent")
    if sms is not None:
        if not isinstance(sms, dict) or sms.get("state") not in _CONSENT_STATES:
            raise ValidationFailed(f"sms_marketing_consent.state must be one of {', '.join(_CONSENT_STATES)}",
                                   field="sms_marketing_consent")
        changes["accepts_sms"] = _CONSENT_STATES[sms["state"]]
    for flag in ("verified_email", "accepts_marketing"):
        if flag in changes and changes[flag] is None:
            del changes[flag]
    return changes


def _metafield_writes(body: dict[str, Any], customer_id: int | None) -> list[tuple[int | None, dict[str, Any]]]:
    raw = body.get("metafields")
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > 250 or not all(isinstance(m, dict) for m in raw):
        raise ValidationFailed("metafields must be a list of at most 250 metafield objects", field="metafields")
    return [(m.get("id") if isinstance(m.get("id"), int) else None, m) for m in raw]


def _check_metafields(writes: list[tuple[int | None, dict[str, Any]]], customer_id: int
                      ) -> list[tuple[int | None, MetafieldInput]]:
    sf = shop().shopify
    out: list[tuple[int | None, MetafieldInput]] = []
    seen: set[tuple[str, str]] = set()
    for mid, fields in writes:
        existing = sf.get_metafield(mid, "customer", customer_id) if mid is not None else None
        try:
            item = sf.check_metafield("customer", customer_id, fields, existing=existing)
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message, field=f"metafields.{exc.field or 'value'}") from exc
        clash = sf.find_metafield("customer", customer_id, item.namespace, item.key)
        if ((existing is None and clash is not None) or (item.namespace, item.key) in seen
                or (existing is not None and clash is not None and clash is not existing)):
            raise AlreadyExists("must be unique within this namespace on this resource", field="metafields.key")
        seen.add((item.namespace, item.key))
        out.append((mid, item))
    return out


def _apply_metafields(items: list[tuple[int | None, MetafieldInput]]) -> None:
    sf = shop().shopify
    for _, item in items:
        sf.set_metafield(item.owner_resource, item.owner_id, item.namespace, item.key, item.type, item.value,
                         item.description)


@route("/customers.json", "POST", "shopify.customers.create", "write_customers")
def customers_create() -> Response:
    body = read_json("customer")
    changes = _changes(body)
    writes = _metafield_writes(body, None)
    sf = shop().shopify
    # Check the metafields against a customer that does not exist yet: owner 0 stands in, nothing is written.
    for _, fields in writes:
        try:
            sf.check_metafield("customer", 0, fields)
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message, field=f"metafields.{exc.field or 'value'}") from exc
    keys = [(f.get("namespace"), f.get("key")) for _, f in writes]
    if len(set(keys)) != len(keys):
        raise AlreadyExists("must be unique within this namespace on this resource", field="metafields.key")
    state = changes.pop("state", "disabled")  # API-created customers have no account yet
    customer = sf.create_customer(state=state, **changes)
    _apply_metafields(_check_metafields(writes, customer.id))
    return json_response({"customer": _json(customer)}, 201)


@route("/customers/<customer_id>.json", "PUT", "shopify.customers.update", "write_customers")
def customers_update(customer_id: str) -> Response:
    cid = id_path(customer_id)
    sf = shop().shopify
    sf.get_customer(cid)
    body = read_json("customer")
    changes = _changes(body)
    sf.check_customer_changes(cid, changes)  # refuse before anything changes
    items = _check_metafields(_metafield_writes(body, cid), cid)
    customer = sf.update_customer(cid, changes)
    _apply_metafields(items)
    return json_response({"customer": _json(customer)})


@route("/customers/<customer_id>.json", "DELETE", "shopify.customers.delete", "write_customers")
def customers_delete(customer_id: str) -> Response:
    try:
        shop().shopify.delete_customer(id_path(customer_id))
    except SimError as exc:
        if exc.code == "conflict":
            # Shopify: a customer with orders cannot be deleted (422, errors under "base").
            raise ValidationFailed("Error deleting customer", field="base") from exc
        raise
    return json_response({})
