"""What the control API (``/_rivosim``) accepts, route by route. Its bodies are the simulator's own documents
(shop configuration, fault rules, customers and orders to create), described in the README; here they stay open
objects with the fields a client most needs named. Keyed by route name; ``build.py`` turns each entry into an
OpenAPI operation.
"""

from __future__ import annotations

from typing import Any

from rivosim.http.openapi.compact import boolean, enum, integer, number, obj, string

__all__ = ["PATH_PARAMS", "REQUESTS", "RESPONSES"]


def _q(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description or name}


_SHOP = _q("shop", string(), "a shop's domain")
_LIMIT = _q("limit", integer(0), "at most this many items")
_DELIVERY_FILTERS = [_q("topic", string()), _q("status", enum("pending", "delivered", "failed", "dead")),
                     _q("body", enum("true", "false", default="true"), "include each delivery's body")]

PATH_PARAMS: dict[str, dict[str, Any]] = {
    "domain": {"schema": string(), "description": "the shop's domain, e.g. demo.myshopify.com"},
    "customer_id": {"schema": string(pattern=r"^\d+$"), "description": "Shopify customer id"},
    "order_id": {"schema": string(pattern=r"^\d+$"), "description": "Shopify order id"},
    "delivery_id": {"schema": string(), "description": "webhook delivery id"},
    "rule_id": {"schema": string(), "description": "fault rule id"},
    "family": {"schema": string(), "description": "sync family, e.g. customers"},
    "theme_id": {"schema": string(pattern=r"^\d+$"), "description": "theme id"},
    "name": {"schema": string(), "description": "integration name, e.g. klaviyo"},
    "ref": {"schema": string(), "description": "staff member id or email"},
    "filename": {"schema": string(), "description": "ui.css or ui.js"},
    "rule": {"schema": string(), "description": "an earning rule's trigger (e.g. order_placed) or id"},
    "reward": {"schema": string(), "description": "a reward's id (or its name)"},
    "tier": {"schema": string(), "description": "a VIP tier's name (any case) or id"},
}

_ANY_BODY = obj({}, description="see the README's control API section")

REQUESTS: dict[str, dict[str, Any]] = {
    "control.shops.create": {"summary": "Create a shop from a configuration document", "body": obj(
        {"domain": string(), "plan": enum("free", "starter", "plus", "scale"), "seed_customers": integer(0)},
        description="a shop document (README: Configuration)")},
    "control.shops.list": {"summary": "List shops"},
    "control.shops.get": {"summary": "A shop's configuration and credentials"},
    "control.shops.patch": {"summary": "Deep-merge a partial configuration document", "body": _ANY_BODY},
    "control.shops.delete": {"summary": "Delete a shop"},
    "control.shops.api_key.regenerate": {"summary": "Issue a new Rivo API key (the old one stops working)"},
    "control.customers.create": {"summary": "A Shopify sign-up", "body": obj({
        "email": string(), "first_name": string(), "last_name": string(), "accepts_marketing": boolean(),
        "visibility_delay": number(0), "tags": {}})},
    "control.customers.get": {"summary": "A customer as both APIs see it"},
    "control.customers.actions": {"summary": "A storefront action (follow, review, birthday, ...)",
                                  "body": obj({"action": string()}, ("action",))},
    "control.orders.create": {"summary": "A storefront order", "body": obj({
        "customer_id": {"type": ["integer", "null"]}, "paid": boolean(),
        "line_items": {"type": "array", "items": obj({"title": string(), "price": string(),
                                                      "quantity": integer(1)})}})},
    "control.orders.get": {"summary": "An order"},
    "control.orders.pay": {"summary": "Mark an order paid", "body": _ANY_BODY, "body_optional": True},
    "control.orders.refund": {"summary": "Refund an order", "body": _ANY_BODY, "body_optional": True},
    "control.orders.cancel": {"summary": "Cancel an order", "body": _ANY_BODY, "body_optional": True},
    "control.clock.get": {"summary": "The simulator clock"},
    "control.clock.advance": {"summary": "Advance the virtual clock (timers and deliveries on the way run)",
                              "body": obj({"seconds": number(0), "duration": string(), "stop_on_delivery":
                                           boolean()}, closed=True,
                                          description="exactly one of seconds or duration")},
    "control.shop_clock.get": {"summary": "One shop's own clock"},
    "control.shop_clock.advance": {"summary": "Advance one shop's clock (only its timers and deliveries run)",
                                   "body": obj({"seconds": number(0), "duration": string(), "to": string(),
                                                "stop_on_delivery": boolean()}, closed=True,
                                               description="exactly one of seconds, duration or to")},
    "control.shop.reset": {"summary": "Put one shop back to what its document and seed give",
                           "body": obj({"clock": obj({"start": string()}, closed=True), "seed": integer(0),
                                        "keep_keys": boolean()}, closed=True), "body_optional": True},
    "control.run_until_idle": {"summary": "Run every pending timer and delivery",
                               "body": obj({"shop": string()}, closed=True), "body_optional": True,
                               "query": [_SHOP]},
    "control.reset": {"summary": "Start the world over", "body": obj({"seed": integer()}), "body_optional": True},
    "control.state": {"summary": "A dump of the world (or one shop's)", "query": [_SHOP, _LIMIT]},
    "control.journal": {"summary": "The request journal", "query": [
        _SHOP, _q("route", string()), _q("method", string()), _q("status", integer()), _q("api", string()),
        _q("since", string()), _q("faulted", enum("true", "false")), _LIMIT]},
    "control.bugs": {"summary": "Simulator bugs (unexpected exceptions) recorded so far"},
    "control.webhooks.deliveries.list": {"summary": "Webhook deliveries", "query": [
        _SHOP, _q("api", enum("rivo", "shopify")), *_DELIVERY_FILTERS]},
    "control.webhooks.deliveries.get": {"summary": "One delivery with its attempts"},
    "control.webhooks.deliveries.redeliver": {"summary": "Send a delivery again"},
    "control.triggers.list": {"summary": "Triggers fired for a shop"},
    "control.faults.list": {"summary": "Fault rules", "query": [_SHOP]},
    "control.faults.create": {"summary": "Add a fault rule", "body": obj({
        "match": obj({}), "action": obj({}), "times": integer(1), "probability": number(0, 1)},
        description="a fault rule (README: Faults)")},
    "control.faults.clear": {"summary": "Remove every fault rule (or one shop's)", "query": [_SHOP]},
    "control.faults.get": {"summary": "A fault rule and how often it fired"},
    "control.faults.delete": {"summary": "Remove a fault rule"},
    "control.syncs.list": {"summary": "The shop's Shopify syncs"},
    "control.syncs.run": {"summary": "Run a sync now", "body": _ANY_BODY, "body_optional": True},
    "control.syncs.get": {"summary": "One sync's state"},
    "control.storefront.get": {"summary": "What the storefront shows (theme, app embed)"},
    "control.themes.list": {"summary": "The shop's themes"},
    "control.themes.create": {"summary": "Add a theme", "body": _ANY_BODY},
    "control.themes.publish": {"summary": "Publish a theme"},
    "control.themes.app_embed": {"summary": "Turn the Rivo app embed on or off", "body": _ANY_BODY},
    "control.integrations.list": {"summary": "Third-party integrations"},
    "control.integrations.get": {"summary": "One integration's state",
                                 "query": [_q("email", string()), _LIMIT]},
    "control.integrations.connect": {"summary": "Connect an integration", "body": _ANY_BODY,
                                     "body_optional": True},
    "control.integrations.disconnect": {"summary": "Disconnect an integration"},
    "control.integrations.create": {"summary": "Add one integration to the shop document", "body": obj(
        {"name": enum("klaviyo", "postscript"), "connected_domain": string()}, ("name",), closed=True)},
    "control.integrations.update": {"summary": "Merge-patch one integration of the shop document",
                                    "body": obj({"connected_domain": {"type": ["string", "null"]}})},
    **{f"control.{plural}.{verb}": {"summary": summary.format(kind=kind), **extra}
       for plural, kind in (("earning_rules", "earning rule"), ("rewards", "reward"), ("vip_tiers", "VIP tier"))
       for verb, summary, extra in (
           ("list", "The shop document's {kind}s, each with the id the Rivo API shows", {}),
           ("get", "One {kind} of the shop document", {}),
           ("create", "Add one {kind} (validated as the whole-document PATCH; 409 if it exists)",
            {"body": obj({}, description="the item, as in the shop document (README: Configuration)")}),
           ("update", "Merge-patch one {kind} (RFC 7386), with the whole-document PATCH's validation and effects",
            {"body": obj({}, description="the fields to change; null returns one to its default")}),
           ("delete", "Remove one {kind}", {}))},
    "control.health": {"summary": "Readiness probe: status, version, uptime (no control token needed)"},
    "control.integrations.sync": {"summary": "Sync an integration now", "body": _ANY_BODY, "body_optional": True},
    "control.shopify.deliveries": {"summary": "The shop's Shopify webhook deliveries", "query": _DELIVERY_FILTERS},
    "control.shopify.app.uninstall": {"summary": "Uninstall the Rivo app from the shop"},
    "control.shopify.app.install": {"summary": "Install the Rivo app again"},
    "control.writeback.get": {"summary": "What Rivo wrote back to Shopify (tags, metafields)"},
    "control.admin.get": {"summary": "The embedded admin's state"},
    "control.admin.causes": {"summary": "Why the embedded admin would not load, in order"},
    "control.admin.staff.list": {"summary": "Staff members"},
    "control.admin.staff.create": {"summary": "Add a staff member", "body": _ANY_BODY},
    "control.admin.staff.get": {"summary": "A staff member"},
    "control.admin.staff.update": {"summary": "Change a staff member", "body": _ANY_BODY},
    "control.admin.browser.update": {"summary": "Change a staff member's browser", "body": _ANY_BODY},
    "control.admin.browser.clear": {"summary": "Clear a staff member's browser data"},
    "control.admin.app.reauthorize": {"summary": "Re-authorize the app"},
    "control.admin.session_token": {"summary": "Mint an App Bridge session token", "body": _ANY_BODY,
                                    "body_optional": True},
    "control.admin.verify": {"summary": "Verify a session token", "body": _ANY_BODY},
    "control.admin.open": {"summary": "Open the embedded admin as a staff member", "body": _ANY_BODY,
                           "body_optional": True},
    "control.customers.list": {"summary": "A shop's customers, searched by email or id (the inspector's list)",
                               "query": [_q("q", string(), "an email or id fragment"), _LIMIT]},
    "control.customers.history": {"summary": "One customer's ledger, points over time, tiers, redemptions"},
    "control.webhooks.subscriptions": {"summary": "A shop's webhook subscriptions (Rivo and Shopify)"},
    "control.rate_limits.get": {"summary": "A shop's rate limits and how full each bucket is"},
    "control.webhooks.topics": {"summary": "The topics a sample webhook can be sent for"},
    "control.webhooks.trigger": {"summary": "Send one sample webhook of a topic (signed, retried, logged)",
                                 "body": obj({"topic": string(), "customer": {"type": ["string", "integer"]},
                                              "wait": boolean()}, ("topic",))},
    "control.snapshot.get": {"summary": "Save everything: the whole simulator (or one shop) as a snapshot document",
                             "query": [_SHOP, _q("journal", enum("0", "1", "true", "false", default="0"),
                                                 "include the request journal")]},
    "control.snapshot.restore": {"summary": "Restore a snapshot: the whole simulator, or one shop into this one "
                                            "(refused with nothing changed when invalid)",
                                 "body": obj({"format": string(), "version": integer(1), "scope": enum("simulator",
                                                                                                        "shop")},
                                             ("format", "version"),
                                             description="a snapshot document (README: Snapshot format)")},
    "control.snapshot.schema": {"summary": "The snapshot format's JSON Schema"},
    "control.ui.index": {"summary": "The inspector: shops"},
    "control.ui.shop": {"summary": "The inspector: a shop", "query": [_q("q", string()), _LIMIT]},
    "control.ui.customer": {"summary": "The inspector: a customer's history"},
    "control.ui.syncs": {"summary": "The inspector: a shop's syncs and integrations"},
    "control.ui.webhooks": {"summary": "The inspector: subscriptions and the delivery log",
                            "query": [_SHOP, _q("status", string()), _q("topic", string())]},
    "control.ui.journal": {"summary": "The inspector: the live journal", "query": [
        _SHOP, _q("api", string()), _q("route", string()), _q("status", string()),
        _q("control", enum("hide", "show"))]},
    "control.ui.faults": {"summary": "The inspector: fault rules and rate limits"},
    "control.ui.static": {"summary": "The inspector's stylesheet and script"},
    "control.openapi.get": {"summary": "An OpenAPI document: rivo, shopify or control"},
    "control.openapi.graphql": {"summary": "The Shopify Admin GraphQL schema (SDL) the simulator serves"},
}
PATH_PARAMS["api"] = {"schema": enum("rivo", "shopify", "control"), "description": "which API's document"}

# Response shapes declared by hand, preferred to those derived from the contract suite's traffic (``derive.py``
# skips these routes): an item route answers with a document entry, whose fields vary with the item, so the
# recording would make the fields its tests happened to send look required. Compact specs, as in shapes/*.json.
_ITEM: dict[str, Any] = {"id": "integer"}
RESPONSES: dict[str, dict[str, Any]] = {
    **{f"control.{plural}.{verb}": spec
       for plural in ("earning_rules", "rewards", "vip_tiers")
       for verb, spec in (("list", {"200": {plural: [_ITEM]}}), ("get", {"200": _ITEM}),
                          ("create", {"201": _ITEM}), ("update", {"200": _ITEM}),
                          ("delete", {"200": {"deleted": _ITEM}}))},
    "control.integrations.create": {"201": {"name": "string", "connected_domain?": "string"}},
    "control.integrations.update": {"200": {"name": "string", "connected_domain?": "string"}},
    # Answered before the journal (control/health.py): the contract suite's recording never sees it.
    "control.health": {"200": {"status": "=ok", "version": "string", "uptime_s": "number"}},
}
