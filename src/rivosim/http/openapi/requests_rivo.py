"""What the Rivo merchant API accepts, route by route (rivo-api.md §1.5, §3): the bracketed query parameters
(``pagination[...]``, ``sort[...]``, ``filters[...]``) and the request bodies with their required fields, types,
ranges and enums. Bodies come as JSON or as form fields (both are accepted, with the same fields); a body may
also wrap its fields in ``{"reward": {...}}`` / ``{"webhook": {...}}`` / ``{"customer": {...}}``.

Keyed by route name; ``build.py`` turns each entry into an OpenAPI operation.
"""

from __future__ import annotations

from typing import Any

from rivosim.domain.rivo.ledger import API_SOURCES
from rivosim.domain.rivo.program import REWARD_TYPES
from rivosim.domain.rivo.subscriptions import TOPICS as RIVO_TOPICS
from rivosim.http.openapi.compact import arr, boolean, enum, integer, nullable, number, obj, string

__all__ = ["PATH_PARAMS", "REQUESTS", "list_params"]

REWARD_SOURCES = ("points", "credits", "referrer", "referred", "vip_tier", "birthday")
_MONEY = {"anyOf": [number(0), string(pattern=r"^\d+(\.\d{1,2})?$")],
          "description": "a decimal amount (a number or a decimal string such as \"25.50\")"}
_ID = {"anyOf": [integer(0), string(pattern=r"^\d+$")], "description": "a numeric id (a number or digits)"}


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def list_params(sort_fields: tuple[str, ...], filters: dict[str, dict[str, Any]] | None = None
                ) -> list[dict[str, Any]]:
    """Rivo's collection parameters: offset mode (``pagination[page]`` ≤ 500, ``per_page`` ≤ 250) or cursor
    mode (``pagination[since_id]`` + ``pagination[limit]``), sorting, and the route's filters."""
    out = [
        _param("pagination[page]", integer(1, 500, default=1), "page number (offset mode)"),
        _param("pagination[per_page]", integer(1, 250, default=25), "items per page (offset mode); with "
               "pagination[since_id] it switches back to offset mode"),
        _param("pagination[since_id]", integer(0), "cursor mode: items with a greater id"),
        _param("pagination[limit]", integer(1, 250, default=25), "cursor mode: items per page"),
        _param("sort[order_type]", enum(*sort_fields), "sort field (ignored in cursor mode)"),
        _param("sort[order_direction]", enum("asc", "desc", default="asc"), "sort direction"),
    ]
    for name, (schema) in (filters or {}).items():
        out.append(_param(f"filters[{name}]", schema, f"only items whose {name} matches"))
    return out


_CUSTOMER_IDENTIFIER = {"anyOf": [integer(0), string(320, minLength=1)],
                        "description": "the Shopify customer id or the customer's email"}

PATH_PARAMS: dict[str, dict[str, Any]] = {
    "identifier": {"schema": string(minLength=1), "description": "Shopify customer id or email"},
    "reward_id": {"schema": string(pattern=r"^\d+$"), "description": "reward id"},
    "tier_id": {"schema": string(pattern=r"^\d+$"), "description": "VIP tier id"},
    "referral_id": {"schema": string(pattern=r"^\d+$"), "description": "referral id"},
    "sub_id": {"schema": string(pattern=r"^\d+$"), "description": "webhook subscription id"},
}

_REWARD_FIELDS = {
    "name": string(255, minLength=1),
    "enabled": boolean(),
    "points_amount": integer(0, 10_000_000, description="points the reward costs"),
    "points_type": enum("fixed", "incremental"),
    "reward_type": enum(*REWARD_TYPES),
    "reward_value": number(0, 1_000_000_000, description="the discount's value (a percentage is at most 100)"),
    "source": enum(*REWARD_SOURCES),
    "expiry_months": nullable(integer(1, 24)),
    "min_order_value_in_cents": nullable(integer(0, 10_000_000)),
    "min_points_to_redeem_value": nullable(integer(1, 10_000_000)),
    "max_points_to_spend_value": nullable(integer(1, 10_000_000)),
    "increment_points_value": nullable(integer(1, 10_000_000)),
}
_WEBHOOK_FIELDS = {
    "event_type": enum(*RIVO_TOPICS, description="the topic (alias: topic)"),
    "topic": enum(*RIVO_TOPICS, description="alias of event_type"),
    "url": string(format="uri", description="an http(s) URL (alias: endpoint_url)"),
    "endpoint_url": string(format="uri", description="alias of url"),
    "description": nullable(string(1000)),
    "status": enum("enabled", "disabled"),
}
_NOTE = nullable(string(1000))

REQUESTS: dict[str, dict[str, Any]] = {
    "rivo.customers.list": {"summary": "List program members",
                            "query": list_params(("id", "created_at", "points_tally", "email"))},
    "rivo.customers.get": {"summary": "Get a customer by Shopify id or email"},
    "rivo.customers.advocate_stats": {"summary": "A customer's advocate stats (answers the plain customer)"},
    "rivo.customers.update": {"summary": "Update a customer's birthday, status, names or marketing consent",
                              "body": obj({
                                  "dob": nullable(string(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$",
                                                         description="birthday as MM-DD")),
                                  "loyalty_status": enum("member", "guest"),
                                  "first_name": nullable(string(255)), "last_name": nullable(string(255)),
                                  "accepts_marketing": boolean()}, closed=True)},
    "rivo.customers.vip_tier.update": {"summary": "Set a customer's VIP tier by hand",
                                       "body": obj({"vip_tier_id": nullable(integer(0)), "internal_note": _NOTE,
                                                    "external_note": _NOTE}, closed=True)},
    "rivo.rewards.list": {"summary": "List rewards",
                          "query": list_params(("id", "created_at", "updated_at", "points_amount", "name"))},
    "rivo.rewards.create": {"summary": "Create a reward", "body": obj(_REWARD_FIELDS, ("name",), closed=True)},
    "rivo.rewards.update": {"summary": "Update a reward", "body": obj(_REWARD_FIELDS, closed=True)},
    "rivo.rewards.delete": {"summary": "Delete a reward (answers the deleted reward)"},
    "rivo.points_events.list": {"summary": "List points events",
                                "query": list_params(("id", "applied_at", "created_at", "points_diff"),
                                                     {"customer_identifier": string(),
                                                      "source": string()})},
    "rivo.points_events.create": {"summary": "Give or take points and store credit", "body": obj({
        "customer_identifier": _CUSTOMER_IDENTIFIER,
        "source": enum(*API_SOURCES),
        "points_amount": integer(-10_000_000, 10_000_000, description="required when source is manual"),
        "credits_amount": {**_MONEY, "description": "store credit; required when source is manual"},
        "skip_email": boolean(),
        "internal_note": _NOTE, "external_note": _NOTE,
        "applied_at": string(format="date-time"),
        "custom_action_name": string(2048, description="required when source is custom_action"),
    }, ("customer_identifier", "source"), closed=True)},
    "rivo.points_events.batch": {"summary": "Create up to 10 points events at once (all or nothing)",
                                 "body": obj({"points_events": arr(obj({}), minItems=1, maxItems=10,
                                              description="POST /points_events bodies")},
                                             ("points_events",), closed=True)},
    "rivo.points_redemptions.list": {"summary": "List redemptions", "query": list_params(
        ("id", "applied_at", "created_at"),
        {"customer_identifier": string(), "used": enum("true", "false"), "refunded_at": enum("null"),
         "revoked_at": enum("null")})},
    "rivo.points_redemptions.create": {"summary": "Redeem a reward for a customer", "body": obj({
        "customer_identifier": _CUSTOMER_IDENTIFIER,
        "reward_id": _ID,
        "points_amount": integer(1, description="required for an incremental reward: a multiple of its "
                                 "increment_points_value within its min/max"),
        "credits_amount": {**_MONEY, "description": "a store-credit reward's amount (default: its value)"},
    }, ("customer_identifier", "reward_id"), closed=True)},
    "rivo.vip_tiers.list": {"summary": "List VIP tiers (empty below the Scale plan)",
                            "query": list_params(("id", "threshold", "name", "created_at"))},
    "rivo.vip_tiers.get": {"summary": "Get a VIP tier"},
    "rivo.referrals.list": {"summary": "List referrals", "query": list_params(
        ("id", "created_at", "completed_at"), {"customer_identifier": string(), "status": string()})},
    "rivo.referrals.create": {"summary": "Record a referred friend's sign-up", "body": obj({
        "email": string(minLength=1, format="email"), "referral_code": string(minLength=1),
        "remote_ip": string(minLength=1, description="the friend's IPv4 or IPv6 address"),
    }, ("email", "referral_code", "remote_ip"), closed=True)},
    "rivo.referrals.complete": {"summary": "Complete a referral (optionally naming the order)",
                                "body": obj({"order_id": integer(0)}, closed=True), "body_optional": True},
    "rivo.webhooks.list": {"summary": "List webhook subscriptions",
                           "query": list_params(("id", "created_at", "event_type"))},
    "rivo.webhooks.create": {"summary": "Subscribe to a topic", "body": obj(_WEBHOOK_FIELDS, closed=True,
                                                                       description="event_type (or topic) and "
                                                                       "url (or endpoint_url) are required")},
    "rivo.webhooks.update": {"summary": "Update a webhook subscription", "body": obj(_WEBHOOK_FIELDS, closed=True)},
    "rivo.webhooks.delete": {"summary": "Delete a webhook subscription (answers the deleted one)"},
    "rivo.earning_rules.list": {"summary": "List earning rules", "query": list_params(
        ("id",), {"trigger": string(), "status": enum("active", "inactive")})},
    "rivo.widget_events.list": {"summary": "List widget events", "query": list_params(("id", "occurred_at"))},
    "rivo.shop.get": {"summary": "The program settings"},
}
