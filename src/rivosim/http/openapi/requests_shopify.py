"""What the Shopify Admin REST slice accepts, route by route (shopify-api.md §1): cursor pagination (``limit``
≤ 250 and ``page_info``, next/previous pages in the ``Link`` header), each list's filters, ``fields``, and the
bodies wrapped in their resource's root (``{"customer": {...}}``). Shopify ignores fields it does not know, so
body objects stay open. Keyed by route name; ``build.py`` turns each entry into an OpenAPI operation.
"""

from __future__ import annotations

from typing import Any

from rivosim.domain.shopify.webhooks import WEBHOOK_TOPICS
from rivosim.http.openapi.compact import arr, boolean, enum, integer, nullable, obj, string

__all__ = ["PATH_PARAMS", "REQUESTS"]

_TIME = string(format="date-time")


def _q(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description or f"filter: {name}"}


_FIELDS = _q("fields", string(), "comma-separated fields to return")
_PAGE = [_q("limit", integer(1, 250, default=50), "items per page (larger values are capped at 250)"),
         _q("page_info", string(), "the cursor of a next/previous page from the Link header; only limit and "
            "fields may come with it"), _FIELDS]
_WINDOW = [_q(f"{p}_{e}", _TIME) for p in ("created_at", "updated_at") for e in ("min", "max")]
_IDS = _q("ids", string(pattern=r"^\d+(,\d+)*$"), "comma-separated ids (at most 250)")
_SINCE = _q("since_id", integer(0), "only ids greater than this")
_ORDER_FILTERS = [
    _IDS, _SINCE, *_WINDOW, _q("processed_at_min", _TIME), _q("processed_at_max", _TIME),
    _q("status", enum("open", "closed", "cancelled", "any", default="open")),
    _q("financial_status", enum("authorized", "pending", "paid", "partially_paid", "refunded", "voided",
                                "partially_refunded", "any", "unpaid")),
    _q("fulfillment_status", enum("shipped", "partial", "unshipped", "any", "unfulfilled")),
    _q("attribution_app_id", string()),
]
_MF_FILTERS = [_SINCE, *_WINDOW, _q("namespace", string()), _q("key", string()), _q("type", string())]
_WH_FILTERS = [_q("address", string()), _q("topic", string()), _SINCE, *_WINDOW]

_ID = string(pattern=r"^\d+$")
PATH_PARAMS: dict[str, dict[str, Any]] = {
    "version": {"schema": string(pattern=r"^(\d{4}-(01|04|07|10)|unstable)$", example="2024-01"),
                "description": "API version (YYYY-MM or unstable); an unsupported one is served by the oldest "
                               "supported version, a malformed one is a 404. `/admin/<path>` without a version "
                               "is served too."},
    "customer_id": {"schema": _ID, "description": "customer id"},
    "order_id": {"schema": _ID, "description": "order id"},
    "owner_id": {"schema": _ID, "description": "the metafield owner's id"},
    "metafield_id": {"schema": _ID, "description": "metafield id"},
    "txn_id": {"schema": _ID, "description": "transaction id"},
    "refund_id": {"schema": _ID, "description": "refund id"},
    "theme_id": {"schema": _ID, "description": "theme id"},
    "webhook_id": {"schema": _ID, "description": "webhook subscription id"},
}

_CONSENT = obj({"state": enum("subscribed", "not_subscribed", "unsubscribed", "pending", "redacted", "invalid"),
                "opt_in_level": nullable(string()), "consent_updated_at": nullable(_TIME)}, ("state",))
_METAFIELD = obj({"namespace": string(), "key": string(), "value": {}, "type": string(),
                  "description": nullable(string())})
_CUSTOMER = obj({"email": nullable(string()), "first_name": nullable(string()), "last_name": nullable(string()),
                 "phone": nullable(string()), "tags": string(description="comma-separated"),
                 "note": nullable(string()), "verified_email": boolean(), "accepts_marketing": boolean(),
                 "state": string(), "email_marketing_consent": _CONSENT, "sms_marketing_consent": _CONSENT,
                 "metafields": arr(_METAFIELD)})
_LINE = obj({"title": string(), "price": string(), "quantity": integer(1), "product_id": nullable(integer()),
             "variant_id": nullable(integer()), "sku": nullable(string())})
_ORDER = obj({"email": string(), "customer": obj({"id": integer(), "email": string()}),
              "line_items": arr(_LINE), "financial_status": string(), "transactions": arr(obj({
                  "kind": string(), "status": string(), "amount": string()})),
              "discount_codes": arr(obj({"code": string(), "amount": string(), "type": string()})),
              "total_tax": string(), "tags": string(), "note": nullable(string()),
              "note_attributes": arr(obj({"name": string(), "value": string()})), "source_name": string(),
              "test": boolean(), "processed_at": _TIME, "currency": string()})
_MF_ROOT = obj({"metafield": _METAFIELD}, ("metafield",))


def _root(name: str, inner: dict[str, Any]) -> dict[str, Any]:
    return obj({name: inner}, (name,))


REQUESTS: dict[str, dict[str, Any]] = {
    "shopify.customers.list": {"summary": "List customers", "query": [*_PAGE, _IDS, _SINCE, *_WINDOW]},
    "shopify.customers.search": {"summary": "Search customers", "query": [
        *_PAGE, _q("query", string(), "search query, e.g. email:ada@example.com"),
        _q("order", string(), "sort, e.g. updated_at desc")]},
    "shopify.customers.count": {"summary": "Count customers", "query": [_IDS, _SINCE, *_WINDOW]},
    "shopify.customers.get": {"summary": "Get a customer", "query": [_FIELDS]},
    "shopify.customers.create": {"summary": "Create a customer", "body": _root("customer", _CUSTOMER)},
    "shopify.customers.update": {"summary": "Update a customer", "body": _root("customer", _CUSTOMER)},
    "shopify.customers.delete": {"summary": "Delete a customer"},
    "shopify.customers.orders": {"summary": "A customer's orders", "query": [*_PAGE, *_ORDER_FILTERS]},
    "shopify.orders.list": {"summary": "List orders", "query": [*_PAGE, *_ORDER_FILTERS]},
    "shopify.orders.count": {"summary": "Count orders", "query": _ORDER_FILTERS},
    "shopify.orders.get": {"summary": "Get an order", "query": [_FIELDS]},
    "shopify.orders.create": {"summary": "Create an order", "body": _root("order", _ORDER)},
    "shopify.orders.update": {"summary": "Update an order's note, tags, email or note attributes",
                              "body": _root("order", _ORDER)},
    "shopify.orders.cancel": {"summary": "Cancel an order", "body": obj({
        "reason": enum("customer", "fraud", "inventory", "declined", "other"), "restock": boolean(),
        "email": boolean(), "refund": obj({})}), "body_optional": True},
    "shopify.orders.close": {"summary": "Close an order", "body": obj({}), "body_optional": True},
    "shopify.orders.open": {"summary": "Re-open a closed order", "body": obj({}), "body_optional": True},
    "shopify.transactions.list": {"summary": "An order's transactions", "query": [_SINCE, _FIELDS]},
    "shopify.transactions.count": {"summary": "Count an order's transactions"},
    "shopify.transactions.get": {"summary": "Get a transaction", "query": [_FIELDS]},
    "shopify.transactions.create": {"summary": "Capture, void or refund through a transaction",
                                    "body": _root("transaction", obj({
                                        "kind": enum("capture", "void", "refund", "sale", "authorization"),
                                        "amount": string(), "parent_id": nullable(integer()),
                                        "currency": string()}, ("kind",)))},
    "shopify.refunds.list": {"summary": "An order's refunds", "query": [_FIELDS]},
    "shopify.refunds.get": {"summary": "Get a refund", "query": [_FIELDS]},
    "shopify.refunds.create": {"summary": "Refund an order", "body": _root("refund", obj({
        "note": nullable(string()), "notify": boolean(),
        "transactions": arr(obj({"kind": string(), "amount": string(), "parent_id": integer()})),
        "refund_line_items": arr(obj({"line_item_id": integer(), "quantity": integer(1)}))}))},
    "shopify.shop.get": {"summary": "The shop", "query": [_FIELDS]},
    "shopify.graphql": {"summary": "The Admin GraphQL API (its SDL: GET /_rivosim/openapi/shopify.graphql)",
                        "body": obj({"query": string(), "variables": nullable(obj({})),
                                     "operationName": nullable(string())}, ("query",))},
    "shopify.webhooks.list": {"summary": "List webhook subscriptions", "query": [*_PAGE, *_WH_FILTERS]},
    "shopify.webhooks.count": {"summary": "Count webhook subscriptions", "query": _WH_FILTERS},
    "shopify.webhooks.get": {"summary": "Get a webhook subscription", "query": [_FIELDS]},
    "shopify.webhooks.create": {"summary": "Subscribe to a topic", "body": _root("webhook", obj({
        "topic": enum(*WEBHOOK_TOPICS), "address": string(format="uri"), "format": enum("json", "xml"),
        "fields": arr(string()), "metafield_namespaces": arr(string())}, ("topic", "address")))},
    "shopify.webhooks.update": {"summary": "Update a webhook subscription", "body": _root("webhook", obj({
        "address": string(format="uri"), "format": enum("json", "xml"), "fields": arr(string()),
        "metafield_namespaces": arr(string())}))},
    "shopify.webhooks.delete": {"summary": "Delete a webhook subscription"},
    "shopify.themes.list": {"summary": "List themes", "query": [_q("role", enum("main", "unpublished",
                                                                                "demo", "development")),
                                                                _FIELDS]},
    "shopify.themes.get": {"summary": "Get a theme", "query": [_FIELDS]},
    "shopify.themes.create": {"summary": "Create a theme", "body": _root("theme", obj({
        "name": string(), "role": enum("main", "unpublished", "development"), "src": string()}, ("name",)))},
    "shopify.themes.update": {"summary": "Rename or publish a theme", "body": _root("theme", obj({
        "name": string(), "role": enum("main", "unpublished", "development")}))},
    "shopify.assets.list": {"summary": "A theme's assets, or one with asset[key]",
                            "query": [_q("asset[key]", string(), "one asset's key, e.g. config/settings_data.json"),
                                      _FIELDS]},
    "shopify.assets.update": {"summary": "Create or replace a theme asset", "body": _root("asset", obj({
        "key": string(), "value": string()}, ("key", "value")))},
}
for _owner in ("shop", "customer", "order"):
    _list = _MF_FILTERS if _owner != "shop" else [
        *_MF_FILTERS, _q("metafield[owner_id]", integer(0)),
        _q("metafield[owner_resource]", enum("customer", "customers", "order", "orders", "shop"))]
    REQUESTS.update({
        f"shopify.{_owner}_metafields.list": {"summary": f"List {_owner} metafields", "query": [*_PAGE, *_list]},
        f"shopify.{_owner}_metafields.count": {"summary": f"Count {_owner} metafields", "query": _MF_FILTERS},
        f"shopify.{_owner}_metafields.get": {"summary": f"Get a {_owner} metafield", "query": [_FIELDS]},
        f"shopify.{_owner}_metafields.create": {"summary": f"Create a {_owner} metafield", "body": _MF_ROOT},
        f"shopify.{_owner}_metafields.update": {"summary": f"Update a {_owner} metafield", "body": _MF_ROOT},
        f"shopify.{_owner}_metafields.delete": {"summary": f"Delete a {_owner} metafield"},
    })
