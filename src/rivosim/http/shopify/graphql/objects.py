"""GraphQL Admin objects: dicts with camelCase keys (a callable value is a field with arguments) built from the
domain records the REST API serves, Relay connections over them, and the helpers the query and mutation
resolvers share (GIDs, ``DateTime``, scopes as ``ACCESS_DENIED``; shopify-api.md §2)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import orjson
from graphql import GraphQLError, GraphQLResolveInfo

from rivosim.domain.shop import Shop
from rivosim.domain.shopify.metafields import APP_ID
from rivosim.domain.shopify.models import Metafield, Order, ShopifyCustomer, Theme, WebhookSubscription
from rivosim.domain.shopify.webhooks import WEBHOOK_TOPICS, topic_enum
from rivosim.kernel.errors import SimError
from rivosim.wire import shopify as wire

__all__ = ["TOPICS", "GraphQLObjects", "connection", "gql_time", "order_query", "parse_gid", "user_errors"]

T = TypeVar("T")
TOPICS = {topic_enum(t): t for t in WEBHOOK_TOPICS}
_DISPLAY_STATUS = {"authorized": "AUTHORIZED", "paid": "PAID", "partially_paid": "PARTIALLY_PAID",
                   "partially_refunded": "PARTIALLY_REFUNDED", "pending": "PENDING", "refunded": "REFUNDED",
                   "voided": "VOIDED"}


def gql_time(value: datetime | None) -> str | None:
    """GraphQL ``DateTime``: UTC with ``Z``."""
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_gid(value: Any) -> tuple[str, int] | None:
    """``gid://shopify/Customer/123`` -> ``("Customer", 123)``; None for anything else."""
    if not isinstance(value, str) or not value.startswith("gid://shopify/"):
        return None
    kind, _, raw = value[len("gid://shopify/"):].partition("/")
    raw = raw.split("?", 1)[0]
    if not kind or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return kind, int(raw)


def _money(amount: Any, currency: str) -> dict[str, Any]:
    return {"amount": f"{amount:.2f}", "currencyCode": currency}


def _bag(amount: Any, currency: str) -> dict[str, Any]:
    return {"shopMoney": _money(amount, currency), "presentmentMoney": _money(amount, currency)}


def _cursor(id_: int) -> str:
    return base64.b64encode(orjson.dumps({"last_id": id_})).decode()


def _from_cursor(raw: str, name: str) -> int:
    try:
        value = orjson.loads(base64.b64decode(raw, validate=True))["last_id"]
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise GraphQLError(f"Invalid cursor for {name}.", extensions={"code": "BAD_USER_INPUT"}) from exc
    if not isinstance(value, int):
        raise GraphQLError(f"Invalid cursor for {name}.", extensions={"code": "BAD_USER_INPUT"})
    return value


def connection(info: GraphQLResolveInfo, items: list[T], id_of: Callable[[T], int],
               node: Callable[[T], dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
    """A Relay connection over ``items`` (ascending ids): ``first``/``after`` or ``last``/``before``."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last", extensions={"code": "BAD_USER_INPUT"})
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= 250:
            raise GraphQLError(f"The {name} argument must be between 0 and 250.",
                               extensions={"code": "BAD_USER_INPUT"})
    if args.get("reverse"):
        items = list(reversed(items))
    position = {id_of(i): n for n, i in enumerate(items)}
    start, end = 0, len(items)
    if args.get("after") is not None:
        start = position.get(_from_cursor(args["after"], info.field_name), -1) + 1
    if args.get("before") is not None:
        end = position.get(_from_cursor(args["before"], info.field_name), end)
    chosen = items[start:end]
    if first is not None:
        chosen = chosen[:first]
    skipped = 0
    if last is not None:
        skipped = max(0, len(chosen) - last)
        chosen = chosen[skipped:]
    lo = start + skipped
    hi = lo + len(chosen)
    nodes = [node(i) for i in chosen]
    return {
        "edges": [{"cursor": _cursor(id_of(i)), "node": n} for i, n in zip(chosen, nodes, strict=True)],
        "nodes": nodes,
        "pageInfo": {"hasNextPage": hi < len(items), "hasPreviousPage": lo > 0,
                     "startCursor": _cursor(id_of(chosen[0])) if chosen else None,
                     "endCursor": _cursor(id_of(chosen[-1])) if chosen else None},
    }


def user_errors(exc: SimError, prefix: list[str]) -> list[dict[str, Any]]:
    field = [*prefix, exc.field] if exc.field else prefix or None
    message = exc.message
    if exc.field and message.startswith(f"{exc.field} "):
        message = f"{exc.field.replace('_', ' ').capitalize()} {message[len(exc.field) + 1:]}"
    return [{"field": field, "message": message}]


class GraphQLObjects:
    """Builds the GraphQL objects of one shop; the query and mutation resolvers extend it."""

    def __init__(self, shop: Shop, api_version: str) -> None:
        self.shop_ = shop
        self.sf = shop.shopify
        self.currency = shop.settings.currency
        self.api_version = api_version

    def _require(self, info: GraphQLResolveInfo, scope: str) -> None:
        granted = self.shop_.settings.shopify.access_scopes
        if scope in granted or (scope.startswith("read_") and "write_" + scope[5:] in granted):
            return
        raise GraphQLError(f"Access denied for {info.field_name} field. Required access: `{scope}` access scope.",
                           extensions={"code": "ACCESS_DENIED",
                                       "documentation": "https://shopify.dev/api/usage/access-scopes",
                                       "requiredAccess": f"`{scope}` access scope."})

    # -- objects ---------------------------------------------------------------------------------------------
    def _metafield(self, mf: Metafield) -> dict[str, Any]:
        if mf.type in ("json", "money", "rating") or mf.type.startswith("list."):
            parsed: Any = json.loads(mf.value)
        else:
            parsed = wire.metafield_value(mf)
        return {"__typename": "Metafield", "id": wire.gid("Metafield", mf.id), "legacyResourceId": str(mf.id),
                "namespace": mf.namespace, "key": mf.key, "value": mf.value, "type": mf.type, "jsonValue": parsed,
                "description": mf.description, "ownerType": mf.owner_resource.upper(),
                "compareDigest": hashlib.sha256(mf.value.encode()).hexdigest(),
                "createdAt": gql_time(mf.created_at), "updatedAt": gql_time(mf.updated_at)}

    def _metafield_fields(self, resource: str, owner_id: int) -> dict[str, Any]:
        def one(info: GraphQLResolveInfo, key: str, namespace: str | None = None) -> dict[str, Any] | None:
            ns = namespace if namespace is not None else f"app--{APP_ID}"
            mf = self.sf.find_metafield(resource, owner_id, ns, key)
            return self._metafield(mf) if mf is not None else None

        def many(info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
            items = sorted(self.sf.metafields_of(resource, owner_id), key=lambda m: m.id)
            if args.get("namespace") is not None:
                items = [m for m in items if m.namespace == args["namespace"]]
            if args.get("keys") is not None:
                wanted = set(args["keys"])
                items = [m for m in items if f"{m.namespace}.{m.key}" in wanted]
            return connection(info, items, lambda m: m.id, self._metafield, args)

        return {"metafield": one, "metafields": many}

    def _customer(self, c: ShopifyCustomer) -> dict[str, Any]:
        def orders(info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
            self._require(info, "read_orders")
            mine = [o for o in self.sf.orders.values() if o.customer_id == c.id]
            return connection(info, order_query(mine, args.get("query")), lambda o: o.id, self._order, args)

        age = self.shop_.clock.now() - c.created_at
        return {
            "__typename": "Customer", "id": wire.gid("Customer", c.id), "legacyResourceId": str(c.id),
            "firstName": c.first_name, "lastName": c.last_name,
            "displayName": " ".join(x for x in (c.first_name, c.last_name) if x) or (c.email or ""),
            "email": c.email, "phone": c.phone, "note": c.note, "tags": list(c.tags),
            "numberOfOrders": str(c.orders_count), "amountSpent": _money(c.total_spent, self.currency),
            "createdAt": gql_time(c.created_at), "updatedAt": gql_time(c.updated_at),
            "verifiedEmail": c.verified_email, "validEmailAddress": c.email is not None,
            "state": c.state.upper(), "canDelete": c.orders_count == 0,
            "lifetimeDuration": _duration(age.total_seconds()),
            "defaultEmailAddress": {"emailAddress": c.email} if c.email else None,
            "orders": orders, **self._metafield_fields("customer", c.id),
        }

    def _order(self, o: Order) -> dict[str, Any]:
        buyer = self.sf.customers.get(o.customer_id) if o.customer_id is not None else None
        return {
            "__typename": "Order", "id": wire.gid("Order", o.id), "legacyResourceId": str(o.id), "name": o.name,
            "email": o.email, "note": o.note, "tags": list(o.tags), "test": o.test, "closed": o.closed_at is not None,
            "closedAt": gql_time(o.closed_at), "cancelledAt": gql_time(o.cancelled_at),
            "cancelReason": o.cancel_reason.upper() if o.cancel_reason else None,
            "createdAt": gql_time(o.created_at), "updatedAt": gql_time(o.updated_at),
            "processedAt": gql_time(o.processed_at),
            "displayFinancialStatus": _DISPLAY_STATUS.get(o.financial_status),
            "discountCodes": list(o.discount_codes),
            "customer": (lambda info: self._customer(buyer)) if buyer is not None else None,
            "subtotalPriceSet": _bag(o.subtotal_price, o.currency), "totalPriceSet": _bag(o.total_price, o.currency),
            "currentTotalPriceSet": _bag(max(o.total_price - o.refunded_amount, 0), o.currency),
            "totalDiscountsSet": _bag(o.total_discounts, o.currency),
            "totalRefundedSet": _bag(o.refunded_amount, o.currency),
            **self._metafield_fields("order", o.id),
        }

    def _shop(self) -> dict[str, Any]:
        rest = wire.shop(self.shop_)
        return {"__typename": "Shop", "id": wire.gid("Shop", self.shop_.id), "name": rest["name"],
                "email": rest["email"], "myshopifyDomain": self.shop_.domain, "currencyCode": self.currency,
                "ianaTimezone": rest["iana_timezone"],
                "plan": {"displayName": rest["plan_display_name"],
                         "shopifyPlus": self.shop_.settings.shopify_plan == "plus", "partnerDevelopment": False},
                **self._metafield_fields("shop", self.sf.shop_id)}

    def _theme(self, t: Theme) -> dict[str, Any]:
        return {"__typename": "OnlineStoreTheme", "id": wire.gid("OnlineStoreTheme", t.id), "name": t.name,
                "role": t.role.upper(), "themeStoreId": t.theme_store_id, "processing": False,
                "createdAt": gql_time(t.created_at), "updatedAt": gql_time(t.updated_at)}

    def _webhook(self, w: WebhookSubscription) -> dict[str, Any]:
        return {"__typename": "WebhookSubscription", "id": wire.gid("WebhookSubscription", w.id),
                "legacyResourceId": str(w.id), "topic": topic_enum(w.topic), "format": w.format.upper(),
                "includeFields": list(w.fields), "metafieldNamespaces": list(w.metafield_namespaces),
                "apiVersion": {"handle": w.api_version, "displayName": w.api_version, "supported": True},
                "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": w.address},
                "callbackUrl": w.address, "uri": w.address,
                "createdAt": gql_time(w.created_at), "updatedAt": gql_time(w.updated_at)}

    def _node(self, info: GraphQLResolveInfo, raw: Any) -> dict[str, Any] | None:
        parsed = parse_gid(raw)
        if parsed is None:
            raise GraphQLError(f"Invalid global id '{raw}'", extensions={"code": "BAD_USER_INPUT"})
        kind, id_ = parsed
        if kind == "Customer" and id_ in self.sf.customers:
            self._require(info, "read_customers")
            return self._customer(self.sf.customers[id_])
        if kind == "Order" and id_ in self.sf.orders:
            self._require(info, "read_orders")
            return self._order(self.sf.orders[id_])
        if kind == "Shop" and id_ == self.shop_.id:
            return self._shop()
        if kind == "Metafield" and id_ in self.sf.metafields:
            return self._metafield(self.sf.metafields[id_])
        if kind == "OnlineStoreTheme" and id_ in self.sf.themes:
            return self._theme(self.sf.themes[id_])
        if kind == "WebhookSubscription" and id_ in self.sf.webhook_subscriptions:
            return self._webhook(self.sf.webhook_subscriptions[id_])
        return None

def order_query(orders: list[Order], query: str | None) -> list[Order]:
    """A small subset of order search: ``status:``, ``financial_status:``, ``tag:``, ``email:``, ``name:``."""
    out = list(orders)
    for term in (query or "").split():
        field, _, value = term.partition(":")
        value = value.strip('"').casefold()
        if field == "financial_status":
            out = [o for o in out if o.financial_status == value]
        elif field == "status":
            out = [o for o in out if (value == "open" and o.closed_at is None and o.cancelled_at is None)
                   or (value == "closed" and o.closed_at is not None)
                   or (value == "cancelled" and o.cancelled_at is not None) or value == "any"]
        elif field == "tag":
            out = [o for o in out if any(t.casefold() == value for t in o.tags)]
        elif field == "email":
            out = [o for o in out if (o.email or "").casefold() == value]
        elif field == "name":
            out = [o for o in out if o.name.casefold() in (value, f"#{value}")]
    return out


def _duration(seconds: float) -> str:
    days = seconds / 86400
    if days < 1:
        return "less than a day"
    if days < 30:
        return f"{int(days)} day{'s' if int(days) != 1 else ''}"
    if days < 365:
        months = int(days // 30)
        return f"about {months} month{'s' if months != 1 else ''}"
    years = int(days // 365)
    return f"about {years} year{'s' if years != 1 else ''}"

