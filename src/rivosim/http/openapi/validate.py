"""Check one response against its API's document: the operation (found by its route name, the
``operationId``) documents the status (or a ``default``), the response's content type, the headers it marks
required, and a body matching the schema (``jsonschema``'s Draft 2020-12 validator, as OpenAPI 3.1 uses it).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from rivosim.http.openapi import document

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["ResponseMismatch", "check"]

REDERIVE = ("if the wire shape changed on purpose, update the schema: `make openapi-shapes` re-derives "
            "src/rivosim/http/openapi/shapes/*.json from the contract suite, then `make openapi`")


class ResponseMismatch(AssertionError):
    """A response that breaks its API's OpenAPI document."""


@cache
def _operations(app: Flask, api: str) -> dict[str, dict[str, Any]]:
    doc = document(app, api)
    return {op["operationId"]: op for item in doc["paths"].values() for op in item.values()}


def _resolve(app: Flask, api: str, node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document(app, api)
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


@cache
def _validator(app: Flask, api: str, schema_key: str) -> Draft202012Validator:
    import json

    schema = json.loads(schema_key)
    # Embedding the document's components lets "#/components/schemas/…" resolve from the schema's root.
    return Draft202012Validator({**schema, "components": document(app, api)["components"]})


def check(app: Flask, api: str, route: str, method: str, status: int, mimetype: str, headers: dict[str, str],
          body: Any, raw: bytes, query: str = "") -> None:
    """``query``: the request's query string; without ``fields=`` a Shopify resource must be whole."""
    import json

    op = _operations(app, api).get(route)
    where = f"{method} {route} -> {status}"
    if op is None:
        raise ResponseMismatch(f"{where}: the route is not in the {api} OpenAPI document")
    responses = op["responses"]
    documented = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
    if documented is None:
        raise ResponseMismatch(f"{where}: status {status} is not documented (documented: {', '.join(responses)})")
    documented = _resolve(app, api, documented)
    for name, header in documented.get("headers", {}).items():
        header = _resolve(app, api, header)
        if header.get("required") and name not in headers:
            raise ResponseMismatch(f"{where}: the documented header {name} is missing")
    content = documented.get("content")
    if not content:
        return
    if not raw:
        raise ResponseMismatch(f"{where}: an empty body; documented: {', '.join(content)}")
    media = content.get(mimetype)
    if media is None:
        raise ResponseMismatch(f"{where}: content type {mimetype!r} is not documented ({', '.join(content)})")
    schema = media.get("schema")
    if schema is None or mimetype != "application/json":
        return
    if "fields=" not in query and "anyOf" in schema and schema["anyOf"][-1].get("x-rivosim-fields"):
        schema = schema["anyOf"][0]
    validator = _validator(app, api, json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:8]]
        raise ResponseMismatch(f"{where}: the body does not match its documented schema:\n" + "\n".join(lines)
                               + f"\n{REDERIVE}")
