"""GraphQL Admin mutations a loyalty app uses (shopify-api.md §2.1, §2.2, §2.4): ``tagsAdd``, ``tagsRemove``,
``metafieldsSet`` (at most 25, all or nothing, ``userErrors`` with codes), ``customerUpdate`` (tags overwrite),
``webhookSubscriptionCreate`` and ``webhookSubscriptionDelete``. Domain refusals become ``userErrors``."""

from __future__ import annotations

import hashlib
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from rivosim.domain.shopify.metafields import APP_ID, MAX_SET, MetafieldsSetRefused
from rivosim.http.shopify.graphql.objects import TOPICS, GraphQLObjects, parse_gid, user_errors
from rivosim.kernel.errors import NotFound, SimError, ValidationFailed

__all__ = ["Mutations"]


class Mutations(GraphQLObjects):
    def _taggable(self, info: GraphQLResolveInfo, raw: str) -> tuple[str, int] | None:
        parsed = parse_gid(raw)
        if parsed is None:
            return None
        kind, id_ = parsed
        if kind == "Customer" and id_ in self.sf.customers:
            self._require(info, "write_customers")
            return parsed
        if kind == "Order" and id_ in self.sf.orders:
            self._require(info, "write_orders")
            return parsed
        return None

    def _tags(self, info: GraphQLResolveInfo, id_: str, tags: list[str], add: bool) -> dict[str, Any]:
        target = self._taggable(info, id_)
        if target is None:
            return {"node": None, "userErrors": [{"field": ["id"], "message": "Resource not found"}]}
        kind, oid = target
        try:
            if kind == "Customer":
                (self.sf.add_tags if add else self.sf.remove_tags)(oid, tags)
                return {"node": self._customer(self.sf.customers[oid]), "userErrors": []}
            (self.sf.add_order_tags if add else self.sf.remove_order_tags)(oid, tags)
            return {"node": self._order(self.sf.orders[oid]), "userErrors": []}
        except ValidationFailed as exc:
            return {"node": None, "userErrors": [{"field": ["tags"], "message": exc.message}]}

    def tagsAdd(self, info: GraphQLResolveInfo, id: str, tags: list[str]) -> dict[str, Any]:
        return self._tags(info, id, tags, add=True)

    def tagsRemove(self, info: GraphQLResolveInfo, id: str, tags: list[str]) -> dict[str, Any]:
        return self._tags(info, id, tags, add=False)

    def metafieldsSet(self, info: GraphQLResolveInfo, metafields: list[dict[str, Any]]) -> dict[str, Any]:
        if len(metafields) > MAX_SET:
            # shopify-api.md §2.2: at most 25 per call; the whole call is refused.
            raise GraphQLError(f"The input array size of {len(metafields)} is greater than the maximum allowed "
                               f"of {MAX_SET}.", extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"})
        kinds = {"Customer": "customer", "Shop": "shop", "Order": "order"}
        entries: list[tuple[str, int | None, dict[str, Any]]] = []
        stale: list[dict[str, Any]] = []
        for index, item in enumerate(metafields):
            parsed = parse_gid(item.get("ownerId"))
            resource = kinds.get(parsed[0], "") if parsed else ""
            owner_id = parsed[1] if parsed else None
            if resource in ("customer", "order"):
                self._require(info, f"write_{resource}s")
            fields = {k: v for k, v in item.items() if k in ("namespace", "key", "type", "value") and v is not None}
            entries.append((resource, owner_id, fields))
            digest = item.get("compareDigest")
            if digest is not None and owner_id is not None:
                ns = fields.get("namespace", f"app--{APP_ID}")
                current = self.sf.find_metafield(resource, owner_id, ns, fields.get("key", ""))
                if current is None or hashlib.sha256(current.value.encode()).hexdigest() != digest:
                    stale.append({"field": ["metafields", str(index)], "elementIndex": index,
                                  "code": "INVALID_COMPARE_DIGEST",
                                  "message": "The resource has been updated since it was loaded. Try again with an "
                                             "updated `compareDigest` value."})
        if stale:
            return {"metafields": [], "userErrors": stale}
        try:
            written = self.sf.metafields_set(entries)
        except MetafieldsSetRefused as exc:
            return {"metafields": [], "userErrors": exc.errors}
        return {"metafields": [self._metafield(m) for m in written], "userErrors": []}

    def customerUpdate(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        self._require(info, "write_customers")
        parsed = parse_gid(input.get("id"))
        if parsed is None or parsed[0] != "Customer" or parsed[1] not in self.sf.customers:
            return {"customer": None, "userErrors": [{"field": ["id"], "message": "Customer does not exist"}]}
        cid = parsed[1]
        names = {"email": "email", "firstName": "first_name", "lastName": "last_name", "phone": "phone",
                 "note": "note", "tags": "tags"}
        changes = {names[k]: v for k, v in input.items() if k in names}
        try:
            self.sf.check_customer_changes(cid, changes)
            writes = []
            for i, raw in enumerate(input.get("metafields") or ()):
                existing = None
                if raw.get("id") is not None:
                    gid = parse_gid(raw["id"])
                    existing = self.sf.get_metafield(gid[1] if gid else -1, "customer", cid)
                fields = {k: v for k, v in raw.items() if k in ("namespace", "key", "type", "value") and v is not None}
                try:
                    writes.append(self.sf.check_metafield("customer", cid, fields, existing=existing))
                except ValidationFailed as exc:
                    raise ValidationFailed(exc.message, field=f"metafields.{i}.{exc.field}") from exc
        except NotFound as exc:
            return {"customer": None, "userErrors": [{"field": ["metafields"], "message": exc.message}]}
        except SimError as exc:  # invalid input, or an email another customer has
            return {"customer": None, "userErrors": user_errors(exc, [])}
        self.sf.update_customer(cid, changes)
        for item in writes:
            self.sf.set_metafield(item.owner_resource, item.owner_id, item.namespace, item.key, item.type,
                                  item.value, item.description)
        return {"customer": self._customer(self.sf.customers[cid]), "userErrors": []}

    def webhookSubscriptionCreate(self, info: GraphQLResolveInfo, topic: str,
                                  webhookSubscription: dict[str, Any]) -> dict[str, Any]:
        sub_in = webhookSubscription
        fields = {"topic": TOPICS[topic], "address": sub_in.get("callbackUrl") or sub_in.get("uri"),
                  "format": (sub_in.get("format") or "JSON").lower(), "fields": sub_in.get("includeFields") or [],
                  "metafield_namespaces": sub_in.get("metafieldNamespaces") or []}
        try:
            sub = self.sf.create_webhook_subscription(fields, self.api_version)
        except SimError as exc:  # invalid input, or the same topic and address again
            where = {"address": "callbackUrl", "fields": "includeFields", "metafield_namespaces":
                     "metafieldNamespaces"}.get(exc.field or "", exc.field or "webhookSubscription")
            message = exc.message if exc.field != "address" or not exc.message.startswith("for this topic") \
                else "Address for this topic has already been taken"
            return {"webhookSubscription": None, "userErrors": [
                {"field": ["webhookSubscription", where], "message": message}]}
        return {"webhookSubscription": self._webhook(sub), "userErrors": []}

    def webhookSubscriptionDelete(self, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
        parsed = parse_gid(id)
        if parsed is None or parsed[0] != "WebhookSubscription" or parsed[1] not in self.sf.webhook_subscriptions:
            return {"deletedWebhookSubscriptionId": None,
                    "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}]}
        self.sf.delete_webhook_subscription(parsed[1])
        return {"deletedWebhookSubscriptionId": id, "userErrors": []}
