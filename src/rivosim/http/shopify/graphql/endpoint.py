"""The blueprint for Shopify's GraphQL Admin endpoint, ``POST /admin/api/<version>/graphql.json``: auth, shop
state, headers and errors as the REST API does them (its cost bucket is the engine's). The engine
(``graphql/engine.py``, graphql-core) is imported on the first GraphQL request, so start-up does not pay ~100 ms for
a parser most runs never use.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from rivosim.http.routing import ApiBlueprint, Routes
from rivosim.http.shopify.pipeline import add_headers, authenticate, check_shop_state, shopify_error
from rivosim.kernel.errors import SimError

__all__ = ["blueprint"]

routes = Routes()


@routes.route("/graphql.json", "POST", "shopify.graphql")
def graphql_endpoint(**_: Any) -> Response:
    from rivosim.http.shopify.graphql.engine import handle

    return handle()


blueprint = ApiBlueprint("shopify_graphql", __name__, api="shopify", url_prefix="/admin",
                         gates=(authenticate, check_shop_state), finish=add_headers, routes=(routes,),
                         variants=(("/api/<version>", None), ("", {"version": None})))
blueprint.register_error_handler(SimError, shopify_error)
