"""Shopify's GraphQL Admin API, ``POST /admin/api/<version>/graphql.json`` (shopify-api.md §2), for the slice a
loyalty app uses (schema in ``shopify_graphql_schema.py``, resolvers in ``shopify_graphql_resolvers.py``).

Cost-based throttling: a query's requested cost is computed before it runs (scalars 0, objects 1, a
connection ``2 + first * its node's cost``, a mutation 10); over 1000 → ``MAX_COST_EXCEEDED``, more than the
bucket holds → ``THROTTLED``, both at HTTP 200; every response carries ``extensions.cost.throttleStatus``. The
bucket (2000 restoring 100/s, Plus 1000/s) refills on the simulator clock. Auth, versions and errors are the
REST API's.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from flask import request
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    execute_sync,
    get_named_type,
    parse,
    validate,
)
from werkzeug.wrappers import Response

from rivosim.http import json_body
from rivosim.http.errors import json_response
from rivosim.http.shopify.graphql.resolvers import Root
from rivosim.http.shopify.graphql.schema import schema
from rivosim.http.shopify.pipeline import graphql_bucket, sim
from rivosim.http.state import current_req
from rivosim.kernel.errors import MalformedRequest, SimError

__all__ = ["MAX_QUERY_COST", "MUTATION_COST", "handle", "query_cost"]

MAX_QUERY_COST = 1000
MUTATION_COST = 10
_UNDEFINED_FIELD = re.compile(r"^Cannot query field '([^']+)' on type '([^']+)'\.")


# -- cost -----------------------------------------------------------------------------------------------------
def query_cost(doc: DocumentNode, schema_: GraphQLSchema, operation: OperationDefinitionNode,
               variables: dict[str, Any]) -> int:
    """The requested cost of ``operation`` (shopify-api.md §2.5)."""
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    if operation.operation.value == "mutation":
        return MUTATION_COST * sum(1 for s in operation.selection_set.selections if isinstance(s, FieldNode))
    root = schema_.query_type
    assert root is not None
    return _selection_cost(operation.selection_set, root, schema_, fragments, variables, set())


def _size(field: FieldNode, variables: dict[str, Any]) -> int:
    for arg in field.arguments or ():
        if arg.name.value in ("first", "last"):
            value = arg.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                raw = variables.get(value.name.value)
                return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
    return 0


def _selection_cost(selection_set: SelectionSetNode | None, parent: Any, schema_: GraphQLSchema,
                    fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Any],
                    seen: set[str]) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            fields = getattr(parent, "fields", {})
            definition = fields.get(selection.name.value)
            if definition is None:
                continue
            named = get_named_type(definition.type)
            if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
                continue  # scalars and enums are free
            inner = _selection_cost(selection.selection_set, named, schema_, fragments, variables, seen)
            if named.name.endswith("Connection"):
                total += 2 + _size(selection, variables) * inner
            elif named.name == "PageInfo" or (getattr(parent, "name", "").endswith("Connection")
                                              and selection.name.value == "edges"):
                total += inner  # a connection's plumbing is free: its nodes are what cost
            else:
                total += 1 + inner
        elif isinstance(selection, InlineFragmentNode):
            target = schema_.get_type(selection.type_condition.name.value) if selection.type_condition else parent
            total += _selection_cost(selection.selection_set, target, schema_, fragments, variables, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue
            target = schema_.get_type(fragment.type_condition.name.value)
            total += _selection_cost(fragment.selection_set, target, schema_, fragments, variables, seen | {name})
    return total


# -- the endpoint ---------------------------------------------------------------------------------------------

def _read_request() -> tuple[str, dict[str, Any], str | None]:
    missing = MalformedRequest("Required parameter missing or invalid", field="query")
    raw = request.get_data(cache=True)
    if (request.mimetype or "") == "application/graphql":
        text = raw.decode("utf-8", "replace")
        if not text.strip():
            raise missing
        return text, {}, None
    try:
        body = json_body.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        raise missing from exc
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
        raise missing
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        raise MalformedRequest("Required parameter missing or invalid", field="variables")
    name = body.get("operationName")
    return body["query"], variables, name if isinstance(name, str) and name else None


def _format(error: GraphQLError) -> dict[str, Any]:
    out: dict[str, Any] = dict(error.formatted)
    match = _UNDEFINED_FIELD.match(error.message)
    if match:
        # Shopify's wording and code for an unknown field (shopify-api.md §2.5).
        out["message"] = f"Field '{match.group(1)}' doesn't exist on type '{match.group(2)}'"
        out["extensions"] = {"code": "undefinedField", "typeName": match.group(2), "fieldName": match.group(1)}
    return out


def handle() -> Response:
    """Answer one GraphQL request (auth, shop state and headers are the blueprint's)."""
    state = current_req()
    found = state.shop
    assert found is not None
    spec = graphql_bucket(found)
    key = f"shopify_graphql:{found.domain}:{found.credentials.shopify_access_token}"
    now = state.at  # the shop's time (the request holds its clock)

    def cost(requested: int, actual: int | None) -> dict[str, Any]:
        available = sim().limiter.peek(key, now)
        return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": {
            "maximumAvailable": float(spec.burst),
            "currentlyAvailable": int(spec.burst if available is None or not spec.enabled else available),
            "restoreRate": float(spec.rate)}}}

    text, variables, operation_name = _read_request()
    try:
        doc = parse(text)
    except GraphQLSyntaxError as exc:
        return json_response({"errors": [{"message": exc.message, "locations": [
            {"line": loc.line, "column": loc.column} for loc in exc.locations or ()]}], "extensions": cost(0, None)})
    problems = validate(schema(), doc)
    if problems:
        return json_response({"errors": [_format(e) for e in problems], "extensions": cost(0, None)})
    operations = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    if len(chosen) != 1:
        message = (f"Unknown operation named '{operation_name}'." if operation_name else
                   "Must provide operation name if query contains multiple operations.")
        return json_response({"errors": [{"message": message}], "extensions": cost(0, None)})
    requested = query_cost(doc, schema(), chosen[0], variables)
    if requested > MAX_QUERY_COST:
        message = (f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST}). "
                   "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the cost "
                   "of a query is calculated. To query larger amounts of data with fewer limits, bulk operations "
                   "should be used instead.")
        return json_response({"errors": [{"message": message, "extensions": {
            "code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST,
            "documentation": "https://shopify.dev/api/usage/limits#rate-limits"}}],
            "extensions": cost(requested, None)})
    decision = sim().limiter.check(key, spec, now, cost=float(requested))
    if decision is not None and not decision.allowed:
        state.note(f"throttled: the query costs {requested}, {int(decision.remaining)} available")
        return json_response({"errors": [{"message": "Throttled", "extensions": {
            "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": cost(requested, None)})
    result = execute_sync(schema(), doc, root_value=Root(found, state.version), variable_values=variables,
                          operation_name=operation_name)
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = []
        for error in result.errors:
            original = error.original_error
            if original is not None and not isinstance(original, GraphQLError | SimError):
                # A resolver crashed: a simulator bug, recorded like any 500, answered as Shopify would.
                sim().record_bug(original, f"POST {request.path} ({'.'.join(map(str, error.path or ()))})")
                body["errors"].append({"message": "Internal error. Looks like something went wrong on our end.",
                                       "extensions": {"code": "INTERNAL_SERVER_ERROR"}, "path": error.path})
            else:
                body["errors"].append(_format(error))
    body["data"] = result.data
    # The actual cost is reported as the requested one (no refund of unused connection slots).
    body["extensions"] = cost(requested, requested)
    return json_response(body)
