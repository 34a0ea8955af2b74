"""Build one OpenAPI 3.1 document per API from the app's routes (:func:`routes.app_routes`), the request
declarations (``requests_*.py``), the response shape tables (``shapes/*.json``), each API's error body, security
scheme and headers, and (for Rivo and Shopify) the webhook topics.

Every operation's ``operationId`` is its stable route name (``rivo.customers.get``). A route the tables do not
describe yet still appears, with an open response schema and ``x-rivosim-undeclared: true``: the coverage test
lists those.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rivosim.http.openapi import requests_control, requests_rivo, requests_shopify
from rivosim.http.openapi.compact import expand
from rivosim.http.openapi.overrides import apply_overrides
from rivosim.http.openapi.routes import AppRoute, app_routes, path_params
from rivosim.http.openapi.webhooks import webhooks_for

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["APIS", "build_document", "shapes"]

APIS = ("rivo", "shopify", "control")
SHAPES_DIR = Path(__file__).with_name("shapes")
_REQUESTS = {"rivo": requests_rivo, "shopify": requests_shopify, "control": requests_control}
_TITLES = {
    "rivo": ("Rivo merchant API (rivosim)", "The Rivo loyalty merchant API as rivosim emulates it, "
             "`/merchant_api/v1`: the raw API key in `Authorization`, JSON:API-like envelopes, 15 requests/s per "
             "key (429 with `Retry-After`). Bodies are JSON or form fields."),
    "shopify": ("Shopify Admin API slice (rivosim)", "The Shopify Admin REST slice rivosim emulates, "
                "`/admin/api/{version}/…json` (also served without the version), `X-Shopify-Access-Token`, the "
                "leaky bucket (`X-Shopify-Shop-Api-Call-Limit`, 429 with `Retry-After`), cursor pages in `Link`. "
                "The GraphQL endpoint's schema (SDL) is at `GET /_rivosim/openapi/shopify.graphql`."),
    "control": ("rivosim control API", "The simulator's own API under `/_rivosim`: shops, customers and "
                "orders, the clock, faults, webhooks deliveries, the journal, the embedded admin. "
                "Control API responses are the simulator's own documents and dumps, which grow with it: their "
                "schemas name the fields they always have and leave objects open."),
}
_ERROR_STATUSES = {
    "rivo": {"400": "Malformed request", "401": "Missing or invalid API key", "403": "Plan without API access",
             "404": "Not found", "413": "Body too large", "422": "Validation failed",
             "429": "Rate limited (Retry-After)"},
    "shopify": {"400": "Bad request", "401": "Invalid token", "402": "Shop frozen", "403": "Missing scope",
                "404": "Not found", "406": "Not acceptable", "422": "Unprocessable", "423": "Shop locked",
                "429": "Rate limited (Retry-After)"},
    "control": {"400": "Malformed request", "404": "Not found", "422": "Validation failed"},
}
_ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "rivo": {"type": "object", "required": ["errors", "error"], "additionalProperties": False, "properties": {
        "errors": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["status", "title", "detail"], "additionalProperties": False,
            "properties": {"status": {"type": "string"}, "title": {"type": "string"},
                           "detail": {"type": "string"}, "code": {"type": "string"},
                           "source": {"type": "object", "properties": {"parameter": {"type": "string"}}},
                           "meta": {"type": "object"}}}},
        "error": {"type": "string", "description": "the first error's detail"}}},
    "shopify": {"type": "object", "required": ["errors"], "properties": {
        "errors": {"type": ["string", "object", "array"],
                   "description": "a message, {field: [messages]} or a list of messages"}}},
    "control": {"type": "object", "required": ["error"], "additionalProperties": False, "properties": {
        "error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"},
            "details": {}}}}},
}
_RIVO_LINKS = {"oneOf": [
    {"type": "object", "title": "offset mode", "required": ["self", "next", "last"], "additionalProperties": False,
     "properties": {"self": {"type": "string"}, "next": {"type": ["string", "null"]}, "last": {"type": "string"}}},
    {"type": "object", "title": "cursor mode", "required": ["since_id", "limit", "next_since_id"],
     "additionalProperties": False,
     "properties": {"since_id": {"type": "integer"}, "limit": {"type": "integer"},
                    "next_since_id": {"type": ["integer", "null"]}}}]}
_SECURITY = {
    "rivo": ("RivoApiKey", {"type": "apiKey", "in": "header", "name": "Authorization",
                            "description": "the raw API key, no `Bearer ` prefix"}),
    "shopify": ("ShopifyAccessToken", {"type": "apiKey", "in": "header", "name": "X-Shopify-Access-Token"}),
    "control": ("ControlToken", {"type": "http", "scheme": "bearer",
                                 "description": "only when the server runs with a control token"}),
}
_HEADERS = {
    "Retry-After": {"description": "seconds to wait before retrying", "required": True,
                    "schema": {"type": "string"}},
    "X-Shopify-Shop-Api-Call-Limit": {"description": "REST bucket use, e.g. 3/40", "required": True,
                                      "schema": {"type": "string", "pattern": r"^\d+/\d+$"}},
    "Link": {"description": "cursor pages: <url>; rel=\"next\", <url>; rel=\"previous\"",
             "schema": {"type": "string"}},
}


# Routes the contract suite never answers successfully answer like a sibling the tables describe.
_ANSWERS_LIKE = {
    **{f"shopify.{o}_metafields.{v}": f"shopify.shop_metafields.{v}" for o in ("customer", "order")
       for v in ("count", "update", "delete")},
    **{f"shopify.{o}_metafields.get": "shopify.shop_metafields.update" for o in ("customer", "order", "shop")},
    "shopify.transactions.get": ("shopify.transactions.create", "200"),
    "shopify.themes.get": "shopify.themes.update",
}
_HAND_SHAPES: dict[str, dict[str, Any]] = {
    "control.openapi.get": {"200": "object"},
    "control.integrations.list": {"200": "object"},
    "control.themes.publish": {"200": "object"},
    "control.webhooks.topics": {"200": {"rivo": ["string"], "shopify": ["string"]}},
    "control.snapshot.get": {"200": {"format": "string", "version": "integer", "rivosim": "string",
                                     "scope": "string", "taken_at": "string", "config": "object",
                                     "clocks": "object", "state": "object", "journal": "object?"}},
    "control.snapshot.restore": {"200": {"restored": "string", "now": "string", "shops": ["string"]}},
    "control.snapshot.schema": {"200": "object"},
    "control.webhooks.trigger": {"202": {"api": "string", "topic": "string", "customer_id": "integer?",
                                         "payload": "object", "deliveries": ["object"]}},
}


def route_shapes(api: str, route: str) -> dict[str, Any] | None:
    """``{status: compact spec}`` of a route's successful responses, or None when nothing describes it."""
    if route in requests_control.RESPONSES:
        return requests_control.RESPONSES[route]
    table = shapes(api)["routes"]
    if route in table:
        return table[route]  # type: ignore[no-any-return]
    like = _ANSWERS_LIKE.get(route)
    if isinstance(like, tuple):
        sibling, status = like
        return {status: next(iter(table[sibling].values()))}
    if like is not None:
        return table.get(like)  # type: ignore[no-any-return]
    return _HAND_SHAPES.get(route)


def _link(target: str, parameters: dict[str, str] | None = None, body: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": target}
    if parameters:
        out["parameters"] = parameters
    if body is not None:
        out["requestBody"] = body
    return out


_RIVO_ID = "$response.body#/data/id"
# OpenAPI links: what a client (and schemathesis' stateful run) can do next with the id a response returned.
_LINKS: dict[str, dict[str, dict[str, Any]]] = {
    "rivo.rewards.create": {
        "UpdateReward": _link("rivo.rewards.update", {"path.reward_id": _RIVO_ID}),
        "RedeemReward": _link("rivo.points_redemptions.create", body={"reward_id": _RIVO_ID}),
        "DeleteReward": _link("rivo.rewards.delete", {"path.reward_id": _RIVO_ID})},
    "rivo.webhooks.create": {
        "UpdateWebhook": _link("rivo.webhooks.update", {"path.sub_id": _RIVO_ID}),
        "DeleteWebhook": _link("rivo.webhooks.delete", {"path.sub_id": _RIVO_ID})},
    "rivo.webhooks.update": {"DeleteWebhook": _link("rivo.webhooks.delete", {"path.sub_id": _RIVO_ID})},
    "rivo.referrals.create": {
        "CompleteReferral": _link("rivo.referrals.complete", {"path.referral_id": _RIVO_ID})},
    "shopify.customers.create": {
        name: _link(f"shopify.customers.{verb}", {"path.customer_id": "$response.body#/customer/id"})
        for name, verb in (("GetCustomer", "get"), ("UpdateCustomer", "update"), ("DeleteCustomer", "delete"))},
    "shopify.orders.create": {
        name: _link(f"shopify.orders.{verb}", {"path.order_id": "$response.body#/order/id"})
        for name, verb in (("GetOrder", "get"), ("CancelOrder", "cancel"), ("CloseOrder", "close"))},
    "shopify.webhooks.create": {
        name: _link(f"shopify.webhooks.{verb}", {"path.webhook_id": "$response.body#/webhook/id"})
        for name, verb in (("UpdateWebhook", "update"), ("DeleteWebhook", "delete"))},
}


@cache
def shapes(api: str) -> dict[str, Any]:
    """The response shape table of ``api`` (see ``derive.py``), with the hand-written widenings applied."""
    table = json.loads((SHAPES_DIR / f"{api}.json").read_text("utf-8"))
    return apply_overrides(api, table)


def build_document(app: Flask, api: str) -> dict[str, Any]:
    if api not in APIS:
        raise ValueError(f"unknown API {api!r}; known: {', '.join(APIS)}")
    table = shapes(api)
    schemas: dict[str, Any] = {name: expand(spec) for name, spec in sorted(table["components"].items())}
    if api == "shopify":  # ?fields=a,b answers only those fields: each resource's partial variant
        for name in list(schemas):
            schemas[name + "Fields"] = {k: v for k, v in schemas[name].items() if k != "required"}
    error_name = f"{api.capitalize()}Error"
    schemas[error_name] = _ERROR_SCHEMAS[api]
    if api == "rivo":
        schemas["RivoLinks"] = _RIVO_LINKS
    scheme_name, scheme = _SECURITY[api]
    paths: dict[str, dict[str, Any]] = {}
    parameters: dict[str, Any] = {}
    for route in app_routes(app):
        if route.api != api:
            continue
        op = _operation(api, route, table, error_name)
        if "parameters" in op:
            op["parameters"] = [_shared(parameters, p) for p in op["parameters"]]
        paths.setdefault(route.path, {})[route.method.lower()] = op
    title, description = _TITLES[api]
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": _version(), "description": description,
                 "license": {"name": "MIT", "identifier": "MIT"}},
        "servers": [{"url": "http://{host}", "variables": {"host": {"default": "127.0.0.1:8282"}},
                     "description": "a `rivosim serve` server"}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas, "securitySchemes": {scheme_name: scheme},
                       "parameters": dict(sorted(parameters.items())), "responses": _error_responses(api, error_name),
                       "headers": {k: v for k, v in _HEADERS.items() if api == "shopify" or k == "Retry-After"}},
        "security": [{scheme_name: []}] if api != "control" else [{}, {scheme_name: []}],
    }
    hooks = webhooks_for(api)
    if hooks:
        doc["webhooks"] = hooks
    return doc


def _takes_fields(route_name: str) -> bool:
    declared = requests_shopify.REQUESTS.get(route_name, {})
    return any(p["name"] == "fields" for p in declared.get("query", ()))


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rivosim")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0"


def _operation(api: str, route: AppRoute, table: dict[str, Any], error_name: str) -> dict[str, Any]:
    declared = _REQUESTS[api].REQUESTS.get(route.name, {})
    params = [{"name": name, "in": "path", "required": True,
               **_REQUESTS[api].PATH_PARAMS.get(name, {"schema": {"type": "string"}})}
              for name in path_params(route.rule)]
    params += declared.get("query", [])
    op: dict[str, Any] = {"operationId": route.name, "summary": declared.get("summary", route.name),
                          "tags": [route.name.split(".")[1]]}
    if params:
        op["parameters"] = params
    body = declared.get("body")
    if body is None and route.method in ("POST", "PUT", "PATCH") and api == "control":
        body, declared = {"type": "object"}, {**declared, "body_optional": True}
    if body is not None:
        content = {"application/json": {"schema": body}}
        if api == "rivo":
            content["application/x-www-form-urlencoded"] = {"schema": body}
        op["requestBody"] = {"required": not declared.get("body_optional", False), "content": content}
    op["responses"] = _responses(api, route, table, error_name)
    if route.name.startswith("control.ui."):  # the inspector's pages: HTML (its static files: CSS, JavaScript)
        types = ("text/css", "text/javascript") if route.name == "control.ui.static" else ("text/html",)
        page = {t: {"schema": {"type": "string"}} for t in types}
        error = {"application/json": {"schema": {"$ref": f"#/components/schemas/{error_name}"}},
                 "text/html": {"schema": {"type": "string"}}}
        op["responses"] = {"200": {"description": "the page", "content": page},
                           "default": {"description": "a refusal: a page or a control API error", "content": error}}
    if route.name == "control.openapi.graphql":
        op["responses"]["200"] = {"description": "the SDL", "content": {"text/plain": {"schema": {"type": "string"}}}}
    return op


def _responses(api: str, route: AppRoute, table: dict[str, Any], error_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    declared = route_shapes(api, route.name)
    success_headers: dict[str, Any] = {}
    if api == "shopify" and route.name != "shopify.graphql":
        limit = "X-Shopify-Shop-Api-Call-Limit"
        success_headers[limit] = {"$ref": f"#/components/headers/{limit}"}
        if route.name.endswith(".list") or route.name in ("shopify.customers.search", "shopify.customers.orders"):
            success_headers["Link"] = {"$ref": "#/components/headers/Link"}
    if declared:
        for status, spec in declared.items():
            schema = expand(spec, closed=api != "control")  # control bodies stay open (see its description)
            if api == "shopify" and _takes_fields(route.name):
                partial = json.loads(re.sub(r'"#(Shopify\w+)"', r'"#\1Fields"', json.dumps(spec)))
                schema = {"anyOf": [schema, {**expand(partial), "x-rivosim-fields": True,
                                             "description": "with ?fields=: only the fields asked for"}]}
            out[status] = {"description": "success", "content": {"application/json": {"schema": schema}}}
            if success_headers:
                out[status]["headers"] = success_headers
            if route.name in _LINKS and status.startswith("2"):
                out[status]["links"] = _LINKS[route.name]
    else:
        status = "201" if route.method == "POST" and route.name.endswith(".create") else "200"
        out[status] = {"description": "success (schema not declared yet)", "x-rivosim-undeclared": True,
                       "content": {"application/json": {"schema": {"type": "object"}}}}
    if route.name == "shopify.graphql":  # errors come in the body; its cost is in extensions, no REST bucket
        out["default"] = {"$ref": "#/components/responses/ErrorDefault"}
        return out
    for status in (*_ERROR_STATUSES[api], "default"):
        out[status] = {"$ref": f"#/components/responses/Error{status.capitalize()}"}
    return out


def _error_responses(api: str, error_name: str) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{error_name}"}}}}
    out: dict[str, Any] = {}
    for status, text in _ERROR_STATUSES[api].items():
        out[f"Error{status}"] = {"description": text, **error}
        if status == "429":
            out[f"Error{status}"]["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
        if api == "shopify" and status not in ("401", "404"):
            out[f"Error{status}"].setdefault("headers", {})["X-Shopify-Shop-Api-Call-Limit"] = {
                "$ref": "#/components/headers/X-Shopify-Shop-Api-Call-Limit"}
    out["ErrorDefault"] = {"description": "any other error, in this API's error shape", **error}
    return out


def _shared(registry: dict[str, Any], param: dict[str, Any]) -> dict[str, Any]:
    """A parameter as a ``$ref`` into ``components/parameters`` (named after it; identical ones shared)."""
    base = param["in"] + "_" + "".join(c if c.isalnum() else "_" for c in param["name"]).strip("_")
    key, n = base, 1
    while key in registry and registry[key] != param:
        n += 1
        key = f"{base}_{n}"
    registry[key] = param
    return {"$ref": f"#/components/parameters/{key}"}
