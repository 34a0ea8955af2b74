"""``GET /_rivosim/openapi/{rivo,shopify,control}.json`` and ``GET /_rivosim/openapi/shopify.graphql``: the
documents of the app serving them, built on first request and kept (building all three takes a few ms; see
``benchmarks``), and the GraphQL SDL printed from the graphql-core schema the Shopify endpoint executes."""

from __future__ import annotations

from flask import current_app
from werkzeug.wrappers import Response

from rivosim.http.errors import error_response
from rivosim.http.openapi import document_bytes, graphql_sdl
from rivosim.http.routing import ApiBlueprint, Routes

__all__ = ["blueprint"]

routes = Routes()
route = routes.route


@route("/openapi/<api>.json", "GET", "control.openapi.get")
def openapi_get(api: str) -> Response:
    if api not in ("rivo", "shopify", "control"):
        return error_response("control", 404, f"no OpenAPI document named {api!r}; known: rivo, shopify, control")
    return Response(document_bytes(current_app._get_current_object(), api),  # type: ignore[attr-defined]
                    content_type="application/json")


@route("/openapi/shopify.graphql", "GET", "control.openapi.graphql")
def openapi_graphql() -> Response:
    return Response(graphql_sdl(), content_type="text/plain; charset=utf-8")


blueprint = ApiBlueprint("control_openapi", __name__, api="control", url_prefix="/_rivosim", routes=(routes,))
