"""The webhook topics of the Rivo and Shopify APIs as OpenAPI 3.1 ``webhooks``: one POST per topic with its
signature headers and payload schema.

Payload schemas are derived here for now: a Shopify payload is the topic's REST resource (the same component as
the Admin API's responses), a Rivo payload an open object described by its topic. The ``fidelity`` work adds
one JSON Schema per topic's payload; :func:`payload_schema` is the one place to point at those files.
"""

from __future__ import annotations

from typing import Any

from rivosim.domain.rivo.subscriptions import TOPICS as RIVO_TOPICS
from rivosim.domain.shopify.webhooks import WEBHOOK_TOPICS as SHOPIFY_TOPICS

__all__ = ["payload_schema", "webhooks_for"]

_SHOPIFY_RESOURCES = {"orders": "ShopifyOrder", "customers": "ShopifyCustomer", "refunds": "ShopifyRefund",
                      "themes": "ShopifyTheme", "app": "ShopifyShop"}
_RIVO_HEADERS = {
    "rivo-webhook-id": "the delivery's id (the same across retries)",
    "rivo-webhook-topic": "the topic",
    "rivo-signature": "base64(HMAC-SHA256(webhook secret, raw body)) — when the shop signs with rivo-signature",
    "rivo-webhook-timestamp": "Standard Webhooks: seconds since the epoch — when the shop signs with "
                              "standard-webhooks",
    "rivo-webhook-signature": "Standard Webhooks: v1,<base64 HMAC-SHA256 of id.timestamp.body>",
}
_SHOPIFY_HEADERS = {
    "X-Shopify-Topic": "the topic", "X-Shopify-Hmac-Sha256": "base64(HMAC-SHA256(app secret, raw body))",
    "X-Shopify-Shop-Domain": "the shop", "X-Shopify-API-Version": "the subscription's API version",
    "X-Shopify-Webhook-Id": "the delivery's id (kept across retries)",
    "X-Shopify-Event-Id": "one per event, shared by its deliveries",
    "X-Shopify-Triggered-At": "when the event happened",
}


def payload_schema(api: str, topic: str) -> dict[str, Any]:
    """The JSON Schema of ``topic``'s payload (a ``$ref`` into the document's components where one fits)."""
    if api == "shopify":
        resource = topic.split("/", 1)[0]
        if topic == "customers/delete":
            return {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}
        name = _SHOPIFY_RESOURCES.get(resource)
        if name is not None:
            return {"$ref": f"#/components/schemas/{name}"}
        return {"type": "object"}
    return {"type": "object", "description": f"the {topic} payload (see the README's webhook section)"}


def _hook(api: str, topic: str, headers: dict[str, str], required: tuple[str, ...]) -> dict[str, Any]:
    return {"post": {
        "operationId": f"{api}.webhook.{topic.replace('/', '.')}",
        "summary": f"{topic} delivery",
        "parameters": [{"name": name, "in": "header", "required": name in required, "description": text,
                        "schema": {"type": "string"}} for name, text in headers.items()],
        "requestBody": {"required": True, "content": {"application/json": {"schema": payload_schema(api, topic)}}},
        "responses": {"2XX": {"description": "received; anything else (or no answer in time) is retried"}},
    }}


def webhooks_for(api: str) -> dict[str, Any]:
    if api == "rivo":
        return {t: _hook(api, t, _RIVO_HEADERS, ("rivo-webhook-id", "rivo-webhook-topic")) for t in RIVO_TOPICS}
    if api == "shopify":
        return {t: _hook(api, t, _SHOPIFY_HEADERS, tuple(_SHOPIFY_HEADERS)) for t in SHOPIFY_TOPICS}
    return {}
