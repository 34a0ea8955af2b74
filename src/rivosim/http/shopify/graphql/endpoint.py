"""The blueprint for Shopify's GraphQL Admin endpoint, ``POST /admin/api/<version>/graphql.json``: auth, shop
state, headers and errors as the REST API does them. The engine (``shopify_graphql_engine``, graphql-core) is
imported on the first GraphQL request, so start-up does not pay ~100 ms for a parser most runs never use.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from werkzeug.wrappers import Response

from rivosim.http.app import ROUTE_NAMES
from rivosim.http.shopify.blueprint import add_headers, authenticate, check_shop_state, shopify_error
from rivosim.kernel.errors import SimError

__all__ = ["blueprint"]

blueprint = Blueprint("shopify_graphql", __name__, url_prefix="/admin")
ROUTE_NAMES["shopify_graphql.graphql"] = "shopify.graphql"


@blueprint.url_value_preprocessor
def _take_version(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.requested_version = (values or {}).pop("version", None)


@blueprint.before_request
def _pipeline() -> Response | None:
    return check_shop_state(authenticate())


@blueprint.after_request
def _headers(response: Response) -> Response:
    return add_headers(response)


@blueprint.errorhandler(SimError)
def _refused(exc: SimError) -> Response:
    return shopify_error(exc)


@blueprint.route("/api/<version>/graphql.json", methods=["POST"], endpoint="graphql")
@blueprint.route("/graphql.json", methods=["POST"], endpoint="graphql", defaults={"version": None})
def graphql_endpoint(**_: Any) -> Response:
    from rivosim.http.shopify.graphql.engine import handle

    return handle()
