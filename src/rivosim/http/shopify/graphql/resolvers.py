"""The root of the GraphQL Admin slice: query fields as methods (graphql-core's default resolver calls them),
over the objects of ``shopify_graphql_objects.py``, with the mutations of ``shopify_graphql_mutations.py``."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from rivosim.http.shopify.graphql.mutations import Mutations
from rivosim.http.shopify.graphql.objects import TOPICS, connection, order_query, parse_gid

__all__ = ["Root"]


class Root(Mutations):
    """The root value of one request: the shop, and the API version it is served at."""

    def node(self, info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
        return self._node(info, id)

    def nodes(self, info: GraphQLResolveInfo, ids: list[str]) -> list[dict[str, Any] | None]:
        if len(ids) > 250:
            raise GraphQLError("The input array size of ids is greater than the maximum allowed of 250.",
                               extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"})
        return [self._node(info, i) for i in ids]

    def shop(self, info: GraphQLResolveInfo) -> dict[str, Any]:
        return self._shop()

    def customer(self, info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
        self._require(info, "read_customers")
        parsed = parse_gid(id)
        if parsed is None or parsed[0] != "Customer":
            raise GraphQLError(f"Invalid global id '{id}'", extensions={"code": "BAD_USER_INPUT"})
        found = self.sf.customers.get(parsed[1])
        return self._customer(found) if found is not None else None

    def customers(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        self._require(info, "read_customers")
        found = self.sf.search_customers(args.get("query") or "")
        return connection(info, found, lambda c: c.id, self._customer, args)

    def order(self, info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
        self._require(info, "read_orders")
        parsed = parse_gid(id)
        if parsed is None or parsed[0] != "Order":
            raise GraphQLError(f"Invalid global id '{id}'", extensions={"code": "BAD_USER_INPUT"})
        found = self.sf.orders.get(parsed[1])
        return self._order(found) if found is not None else None

    def orders(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        self._require(info, "read_orders")
        found = order_query(list(self.sf.orders.values()), args.get("query"))
        return connection(info, found, lambda o: o.id, self._order, args)

    def themes(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        self._require(info, "read_themes")
        roles = {r.lower() for r in args.get("roles") or ()}
        found = [t for t in self.sf.themes.values() if not roles or t.role in roles]
        return connection(info, found, lambda t: t.id, self._theme, args)

    def webhookSubscription(self, info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
        parsed = parse_gid(id)
        sub = self.sf.webhook_subscriptions.get(parsed[1]) if parsed and parsed[0] == "WebhookSubscription" else None
        return self._webhook(sub) if sub is not None else None

    def webhookSubscriptions(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        topics = {TOPICS[t] for t in args.get("topics") or ()}
        url = args.get("callbackUrl")
        found = sorted((w for w in self.sf.webhook_subscriptions.values()
                        if (not topics or w.topic in topics) and (url is None or w.address == url)),
                       key=lambda w: w.id)
        return connection(info, found, lambda w: w.id, self._webhook, args)
