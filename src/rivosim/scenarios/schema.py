"""The scenario format, as a JSON Schema built here and published at ``rivosim/schema/scenario.schema.json``
(``python -m rivosim.scenarios.schema`` rewrites it; a test keeps the file and this module in step).

Steps and workflow actions are one-key mappings (``- advance: P30D``); the published schema lists each kind
as its own alternative so editors can complete them, and the loader validates a step's body against its
kind's definition so an error names the field that is wrong rather than "not valid under any of the given
schemas".
"""

from __future__ import annotations

import json
import sys
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["ACTION_KINDS", "EXPECT_KINDS", "STEP_KINDS", "build_schema", "published_schema"]

_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_TEMPLATED_INT = {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": r"\{\{|\$"}]}
_NUMBERISH = {"oneOf": [{"type": "number"}, {"type": "string"}]}
_REF = {"$ref": "#/$defs/customer_ref"}
_DURATION = {"$ref": "#/$defs/duration"}
_EXPECT = {"$ref": "#/$defs/expect_response"}
_NAME = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
         "description": "A name later steps refer to (letters, digits, _)."}
_COUNT = {"type": "integer", "minimum": 0, "description": "Exactly this many (omit: at least one)."}
_TIMEOUT = {"$ref": "#/$defs/duration",
            "description": "How long to wait for the response (PT2S or seconds); beyond it the call fails as "
                           "'timed out after 2 s (read timeout)' with no status."}


def _obj(props: dict[str, Any], required: tuple[str, ...] = (), *, extra: bool = False,
         description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": extra}
    if required:
        out["required"] = list(required)
    if description:
        out["description"] = description
    return out


def _null_or(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [{"type": "null"}, schema]}


# -- steps ------------------------------------------------------------------------------------------------------
_CUSTOMER_FIELDS = {
    "email": _STR, "first_name": _STR, "last_name": _STR, "phone": _STR,
    "tags": {"type": "array", "items": _STR}, "accepts_marketing": _BOOL, "accepts_sms": _BOOL,
    "verified_email": _BOOL, "note": _STR, "dob": {"type": "string", "description": "MM-DD (templates allowed)"},
    "joins_program": {"type": "boolean", "description": "false: the customer stays a guest (not opted in)."},
    "visibility_delay": {**_DURATION, "description": "How long until the Rivo API sees the customer (default: "
                                                      "the shop's api.new_customer_visibility_delay)."},
}
_LINE_ITEM = _obj({"title": _STR, "price": _NUMBERISH, "quantity": _INT, "product_id": _INT, "variant_id": _INT},
                  ("price",))
_HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

STEP_DEFS: dict[str, dict[str, Any]] = {
    "customer_created": _obj({"as": _NAME, **_CUSTOMER_FIELDS, "expect": _EXPECT}, ("as",),
                             description="A Shopify customer signs up (POST /_rivosim/shops/<d>/customers); "
                                         "later steps call them by name: `customer: alice`, `$customers.alice.id`."),
    "order_placed": _obj({"customer": _REF, "as": _NAME, "amount": _NUMBERISH,
                          "line_items": {"type": "array", "items": _LINE_ITEM, "minItems": 1},
                          "paid": {"type": "boolean", "description": "default true"},
                          "discount_codes": {"type": "array", "items": _STR},
                          "tags": {"type": "array", "items": _STR}, "source_name": _STR, "expect": _EXPECT},
                         ("customer",), description="An order is placed (and paid unless `paid: false`)."),
    "order_paid": _obj({"order": _STR, "expect": _EXPECT}, ("order",)),
    "order_refunded": _obj({"order": _STR, "amount": _NUMBERISH, "note": _STR, "expect": _EXPECT}, ("order",)),
    "order_cancelled": _obj({"order": _STR, "reason": _STR, "expect": _EXPECT}, ("order",)),
    "follow": _obj({"customer": _REF, "network": {"enum": ["instagram", "tiktok", "twitter", "facebook"]},
                    "expect": _EXPECT}, ("customer", "network")),
    "share": _obj({"customer": _REF, "network": {"enum": ["facebook", "twitter"]}, "expect": _EXPECT},
                  ("customer", "network")),
    "subscribe": _obj({"customer": _REF, "channel": {"enum": ["email", "sms"]}, "expect": _EXPECT},
                      ("customer", "channel")),
    "review": _obj({"customer": _REF, "product_id": _INT, "rating": _INT, "expect": _EXPECT}, ("customer",)),
    "custom_action": _obj({"customer": _REF, "name": _STR, "expect": _EXPECT}, ("customer", "name")),
    "visit_url": _obj({"customer": _REF, "url": _STR, "expect": _EXPECT}, ("customer", "url")),
    "receipt_upload": _obj({"customer": _REF, "expect": _EXPECT}, ("customer",)),
    "set_birthday": _obj({"customer": _REF, "dob": _STR, "expect": _EXPECT}, ("customer", "dob")),
    "storefront": _obj({"customer": _REF, "action": _STR, "expect": _EXPECT}, ("customer", "action"), extra=True,
                       description="Any storefront action of the control API, with its extra fields."),
    "referral_claim": _obj({"advocate": _REF, "email": _STR, "remote_ip": _STR, "as": _NAME, "expect": _EXPECT},
                           ("advocate", "email"),
                           description="A friend claims the advocate's referral link (POST /referrals)."),
    "adjust_points": _obj({"customer": _REF, "points": _TEMPLATED_INT, "credits": _NUMBERISH, "note": _STR,
                           "as": _NAME, "expect": _EXPECT}, ("customer", "points"),
                          description="The merchant adds (or, negative, removes) points."),
    "change_tier": _obj({"customer": _REF, "tier": {"oneOf": [_STR, _INT]}, "note": _STR, "expect": _EXPECT},
                        ("customer", "tier"), description="The merchant sets a customer's VIP tier by name."),
    "patch_shop": {"type": "object", "description": "A merge patch of the shop configuration document "
                                                    "(PATCH /_rivosim/shops/<d>): e.g. {plan: plus}."},
    "enable_rule": _obj({"trigger": _STR, "name": _STR}, ("trigger",),
                        description="The merchant enables an earning rule (by trigger; custom actions by name)."),
    "disable_rule": _obj({"trigger": _STR, "name": _STR}, ("trigger",)),
    "regenerate_key": _null_or(_obj({})),
    "http": _obj({"method": {"enum": _HTTP_METHODS}, "path": _STR, "body": {}, "query": {"type": "object"},
                  "headers": {"type": "object", "additionalProperties": _STR},
                  "auth": {"type": "string", "description": "shop (default for Rivo paths), none, or a key "
                                                            "(templates allowed)"},
                  "timeout": _TIMEOUT, "as": _NAME, "expect": _EXPECT}, ("method", "path"),
                 description="A direct API call with its expected status (or `expect: {timed_out: true}`)."),
    "advance": {"oneOf": [_DURATION, _obj({"by": _DURATION, "shop": _STR}, ("by", "shop"))],
                "description": "Let simulated time pass (ISO-8601: P30D, PT30S, P1Y) on every clock, or "
                               "`{by: P30D, shop: '{{ shop.domain }}'}`: on the scenario's shop's own clock only "
                               "(POST /_rivosim/shops/<domain>/clock/advance; other shops keep their time)."},
    "advance_to": {"type": "string", "description": "Let time pass until an instant (templates: "
                                                    "'{{ next_date(\"12-01\") }}')."},
    "run_until_idle": _null_or(_obj({})),
    "restore": {"type": "string", "minLength": 1,
                "description": "Restore a saved snapshot (GET /_rivosim/snapshot, rivosim serve --save-state): a "
                               "file path, relative to the scenario file. A whole-simulator snapshot replaces the "
                               "world, a shop snapshot that shop; the scenario's shop must be in it, and the "
                               "steps after act on it as restored (its keys re-read)."},
    "redeliver": _obj({"topic": _STR, "index": _INT}, ("topic",),
                      description="Rivo sends a delivery again (same webhook id)."),
    "fault": {"type": "object", "description": "Add a fault rule for this shop (POST /_rivosim/faults; `match.shop` "
                                             "defaults to the scenario's shop), or `{clear: true}` to remove them.",
              "properties": {"clear": {"const": True}}},
    "workflow_credential": _obj({"api_key": _STR, "shop_domain": _STR}, ("api_key",),
                                description="Enter (or re-enter) the API key in the workflow tool (and, "
                                            "optionally, the Shopify store domain it is set up for)."),
    "background": _obj({"hold": _BOOL}, ("hold",),
                       description="hold: true leaves queued background work (syncs, deliveries) pending after "
                                   "each step, so its in-between states can be checked; advance or "
                                   "run_until_idle runs it. hold: false goes back to running it after every step."),
    "workflow_settings": _obj({"dedupe": _BOOL, "verify_signatures": _BOOL, "shop_domain": _STR},
                              description="Change the workflow tool's settings mid-run (e.g. switch on "
                                          "de-duplication by rivo-webhook-id)."),
    "workflow_update": _obj({"name": _STR, "trigger": {"$ref": "#/$defs/trigger"},
                             "filters": {"$ref": "#/$defs/filters"},
                             "actions": {"type": "array", "items": {"$ref": "#/$defs/action"}},
                             "enabled": _BOOL}, ("name",),
                            description="Edit a workflow the way a merchant does in the builder."),
    "expect": {"$ref": "#/$defs/expectations"},
}
STEP_KINDS = tuple(STEP_DEFS)

# -- workflow actions -------------------------------------------------------------------------------------------
_AS = {"as": {**_NAME, "description": "Bind the result to this name (default: the action's name)."}}
ACTION_DEFS: dict[str, dict[str, Any]] = {
    "get_customer": _null_or(_obj({"customer": _REF, **_AS})),
    "update_vip_tier": _obj({"customer": _REF, "tier": {"oneOf": [_STR, _INT]}, "note": _STR,
                             "external_note": _STR, **_AS}, ("tier",)),
    "get_points_history": _null_or(_obj({"customer": _REF, "source": _STR, **_AS})),
    "get_vip_tier_history": _null_or(_obj({"customer": _REF, **_AS})),
    "get_referrals": _null_or(_obj({"customer": _REF, **_AS})),
    "grant_points": _obj({"customer": _REF, "points": _TEMPLATED_INT, "note": _STR, "external_note": _STR, **_AS},
                         ("points",)),
    "grant_points_batch": _obj({"customers": {"oneOf": [{"type": "array", "items": _REF, "minItems": 1}, _STR],
                                              "description": "Ids or emails (a template: '{{ pluck(everyone, "
                                                             "\"id\") }}'); Rivo takes at most 10."},
                                "points": _TEMPLATED_INT, "note": _STR, **_AS}, ("customers", "points"),
                               description="Grant Points to many customers in one call (POST /points_events/batch, "
                                           "all or nothing)."),
    "deduct_points": _obj({"customer": _REF, "points": _TEMPLATED_INT, "note": _STR, "external_note": _STR, **_AS},
                          ("points",)),
    "create_reward": _obj({"customer": _REF, "reward": _STR, "name": _STR,
                           "reward_type": {"enum": ["fixed_amount", "percentage", "free_shipping", "free_product",
                                                    "gift_card"]},
                           "reward_value": {"type": "number"}, "points_amount": _INT, "expiry_months": _INT, **_AS}),
    "get_available_rewards": _null_or(_obj({"customer": _REF, "affordable": {
        "type": "boolean", "description": "Only rewards the customer's points cover (default true when there is "
                                          "a customer)"}, **_AS})),
    "get_vip_tiers": _null_or(_obj({**_AS})),
    "get_earning_rules": _null_or(_obj({**_AS})),
    "get_program_settings": _null_or(_obj({**_AS})),
    "list_customers": _null_or(_obj({**_AS})),
    "send_email": _obj({"to": _STR, "subject": _STR, "template": _STR, "body": _STR}, ("to",), extra=True),
    "send_sms": _obj({"to": _STR, "body": _STR, "template": _STR}, ("to",), extra=True),
    "delay": _DURATION,
    "filter": {"$ref": "#/$defs/filters"},
    "for_each": _obj({"items": _STR, "as": _NAME,
                      "pace": {**_DURATION, "description": "Wait this long between items (spacing out bulk calls)."},
                      "actions": {"type": "array", "items": {"$ref": "#/$defs/action"}, "minItems": 1}},
                     ("items", "actions")),
}
# Every action that calls the Rivo API takes its own `timeout:` (overriding workflow_client.timeout).
API_ACTIONS = ("get_customer", "update_vip_tier", "get_points_history", "get_vip_tier_history", "get_referrals",
               "grant_points",
               "grant_points_batch", "deduct_points", "create_reward", "get_available_rewards", "get_vip_tiers",
               "get_earning_rules", "get_program_settings", "list_customers")


def _add_timeouts() -> None:
    for kind in API_ACTIONS:
        definition = ACTION_DEFS[kind]
        body = definition["oneOf"][1] if "oneOf" in definition else definition
        body["properties"]["timeout"] = {**_TIMEOUT, "description": "This action's own timeout per call "
                                                                    "(overrides workflow_client.timeout)."}


_add_timeouts()
ACTION_KINDS = tuple(ACTION_DEFS)

# -- expectations -----------------------------------------------------------------------------------------------
_SUBSET = {"type": "object", "description": "Fields that must match (nested objects match as subsets)."}
EXPECT_DEFS: dict[str, dict[str, Any]] = {
    "customers": {"type": "object", "additionalProperties": _obj({
        "points": _INT, "credits": _NUMBERISH, "lifetime_points": _INT, "tier": {"type": ["string", "null"]},
        "loyalty_status": {"enum": ["member", "guest"]}, "dob": {"type": ["string", "null"]}, "visible": _BOOL,
        "tags": {"type": "array", "items": _STR, "description": "Shopify tags the customer must have."},
        "tags_absent": {"type": "array", "items": _STR}, "orders_count": _INT}),
        "description": "By customer name: balances, tier, status and Shopify tags."},
    "ledger": {"type": "object", "additionalProperties": {"type": "array", "items": _SUBSET},
               "description": "By customer name: the points events in order (each a subset); the balance must "
                              "equal the ledger's sum."},
    "triggers": {"type": "array", "items": _obj({"topic": _STR, "count": _COUNT, "customer": _REF,
                                                  "payload": _SUBSET}, ("topic",))},
    "deliveries": {"type": "array", "items": _obj({"topic": _STR, "count": _COUNT,
                                                    "status": {"enum": ["pending", "in_flight", "delivered",
                                                                        "failed"]},
                                                    "signature_valid": _BOOL, "attempts": _INT}, ("topic",))},
    "workflow_runs": {"type": "array", "items": _obj({"workflow": _STR, "count": _COUNT, "customer": _REF,
                                                       "status": {"enum": ["completed", "filtered", "failed",
                                                                           "waiting", "stopped_loop"]}},
                                                      ("workflow",))},
    "workflow_actions": {"type": "array", "items": _obj({"workflow": _STR, "action": _STR, "count": _COUNT,
                                                          "customer": _REF, "status": _INT, "ok": _BOOL,
                                                          "fields": _SUBSET}, ("action",))},
    "messages": {"type": "array", "items": _obj({"channel": {"enum": ["email", "sms"]}, "to": _REF,
                                                  "workflow": _STR, "count": _COUNT, "fields": _SUBSET,
                                                  "contains": {"type": "object", "additionalProperties": _STR,
                                                               "description": "field: text it must contain"}})},
    "journal": {"type": "array", "items": _obj({"route": _STR, "status": _INT, "method": {"enum": _HTTP_METHODS},
                                                 "contains": {"type": "string", "description": "text in the "
                                                              "entry's notes (the simulator's diagnosis)"},
                                                 "min_latency_ms": {"type": "number", "minimum": 0,
                                                                    "description": "only calls with at least this "
                                                                                   "much injected latency"},
                                                 "max_latency_ms": {"type": "number", "minimum": 0,
                                                                    "description": "only calls with at most this "
                                                                                   "much injected latency"},
                                                 "count": _COUNT}, ("route",))},
    "client_errors": {"type": "array", "items": _obj({"where": _STR, "status": _INT, "workflow": _STR,
                                                       "contains": _STR, "count": _COUNT,
                                                       "timed_out": {"type": "boolean",
                                                                     "description": "true: calls that got no "
                                                                                    "response in time (no status)"}
                                                       })},
    "workflow_latency": {"type": "array", "items": _obj({
        "workflow": _STR, "customer": _REF, "count": _COUNT,
        "status": {"enum": ["completed", "filtered", "failed", "stopped_loop"]},
        "min": {**_DURATION, "description": "runs that took at least this long"},
        "max": {**_DURATION, "description": "runs that took at most this long"}}, ("workflow",)),
        "description": "Runs by how long they took as the merchant sees it: from the moment the workflow tool "
                       "received the triggering delivery (a schedule: its fire time) to the end of the run "
                       "(its last action, a filter that stopped it, or its failure), in simulator time — waiting "
                       "behind other runs and slow API calls included, as are the workflow's own delays. Runs "
                       "still waiting have no latency yet."},
    "loops": {"type": "array", "items": _obj({"workflow": _STR, "count": _COUNT}, ("workflow",))},
    "duplicates": {"type": "integer", "minimum": 0,
                   "description": "Deliveries the workflow client ignored as already seen."},
}
EXPECT_KINDS = tuple(EXPECT_DEFS)


def build_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {
        "duration": {"oneOf": [{"type": "string", "pattern": "^P"}, {"type": "number", "minimum": 0}],
                     "description": "ISO-8601 duration (P30D, PT30S, P1Y2M) or seconds."},
        "customer_ref": {"oneOf": [{"type": "string"}, {"type": "integer"}],
                         "description": "A named customer (alice), a reference ($customers.alice.id), a template "
                                        "({{ customer.id }}), an email or a Shopify id."},
        "expect_response": _obj({"status": {"oneOf": [_INT, {"type": "array", "items": _INT}]}, "json": _SUBSET,
                                 "error_contains": _STR,
                                 "timed_out": {"type": "boolean",
                                               "description": "true: no response within the step's timeout"}},
                                description="What the step's response must be (default: any 2xx)."),
        "filters": {"oneOf": [_STR, {"type": "array", "items": _STR}],
                    "description": "Conditions on the payload, all of which must hold: points_diff > 0, "
                                   "vip_tier.name == 'Gold', has_tag(customer.shopify_tags, 'VIP')."},
        "trigger": {"oneOf": [_STR, {"type": "array", "items": _STR, "minItems": 1}],
                    "description": "A webhook topic (points_event/created), a list of them, or a MESA trigger "
                                   "name (Loyalty Points Earned)."},
        "expectations": _obj(EXPECT_DEFS, description="Checks of the world so far (counts are cumulative)."),
        "workflow": _obj({
            "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9 _./-]*$"}, "description": _STR,
            "trigger": {"$ref": "#/$defs/trigger"},
            "schedule": _obj({"every": _DURATION, "yearly": {"type": "string", "pattern": r"^\d\d-\d\d$"}},
                             description="Run on a schedule instead of a trigger."),
            "filters": {"$ref": "#/$defs/filters"}, "enabled": _BOOL,
            "actions": {"type": "array", "items": {"$ref": "#/$defs/action"}, "minItems": 1},
        }, ("name", "actions")),
        "step": {"oneOf": [_obj({k: {"$ref": f"#/$defs/step_{k}"}}, (k,)) for k in STEP_KINDS]},
        "action": {"oneOf": [_obj({k: {"$ref": f"#/$defs/action_{k}"}}, (k,)) for k in ACTION_KINDS]},
    }
    defs.update({f"step_{k}": v for k, v in STEP_DEFS.items()})
    defs.update({f"action_{k}": v for k, v in ACTION_DEFS.items()})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://rivosim.local/schema/scenario.schema.json",
        "title": "rivosim scenario",
        "description": "A scenario: a shop (the shop configuration document), workflows, then steps in order with "
                       "expectations. See scenarios/README.md.",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "steps"],
        "properties": {
            "$schema": _STR,
            "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$", "maxLength": 60,
                     "description": "Unique; also the shop's domain: <name>.myshopify.com."},
            "description": _STR,
            "covers": {"type": "string", "description": "The seed case this scenario reproduces."},
            "tags": {"type": "array", "items": _STR},
            "seed": {"type": "integer", "description": "Simulator seed in-process (rivosim run --seed overrides)."},
            "shop": {"$ref": "shop-config.schema.json",
                     "description": "The shop configuration document (plan, program, integrations, limits)."},
            "customers": {"type": "object", "additionalProperties": _obj(_CUSTOMER_FIELDS),
                          "description": "Customers who exist before the scenario starts (visible at once)."},
            "workflow_client": _obj({
                "api_key": {"type": "string", "description": "The key entered in the workflow tool (default "
                                                             "'{{ shop.rivo_api_key }}')."},
                "connect": {"type": "boolean", "description": "Subscribe at the start (default true)."},
                "shop_domain": {"type": "string", "description": "The Shopify store domain the workflow tool is "
                                                                 "set up for (MESA's store); it must match "
                                                                 "Rivo's exactly (default: the shop's)."},
                "dedupe": {"type": "boolean", "description": "Ignore a repeated rivo-webhook-id (default true)."},
                "verify_signatures": _BOOL,
                "honour_retry_after": {"type": "boolean", "description": "Wait out a 429's Retry-After (simulator "
                                                                         "time) and retry (default true)."},
                "loop_limit": {"type": "integer", "minimum": 1,
                               "description": "Times a workflow may appear in its own causal chain (default 1)."},
                "timeout": {**_DURATION, "description": "How long each API call of a workflow waits for its "
                                                        "response (PT2S or seconds; default: none, i.e. 30 s). "
                                                        "Beyond it the action fails: 'timed out after 2 s (read "
                                                        "timeout)', and the run fails."},
            }),
            "workflows": {"type": "array", "items": {"$ref": "#/$defs/workflow"}},
            "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}, "minItems": 1},
        },
        "$defs": defs,
    }


@cache
def published_schema() -> dict[str, Any]:
    text = resources.files("rivosim").joinpath("schema/scenario.schema.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def render_schema() -> str:
    return json.dumps(build_schema(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render_schema())
