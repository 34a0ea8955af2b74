"""Shopify's Admin REST API, ``/admin/api/<YYYY-MM>/…json`` (and the version-less ``/admin/…json``, served by the
oldest supported version): the gates and headers of ``pipeline.py``, the resources in ``customers.py``,
``orders.py`` and ``store.py``; inputs and cursor pagination in ``params.py``.
"""

from __future__ import annotations

from rivosim.http.routing import ApiBlueprint
from rivosim.http.shopify import customers, orders, store
from rivosim.http.shopify.pipeline import (
    add_headers,
    authenticate,
    check_shop_state,
    rest_limit,
    shopify_error,
    supported_versions,
)
from rivosim.kernel.errors import SimError

__all__ = ["VERSIONED", "blueprint", "supported_versions"]

VERSIONED = (("/api/<version>", None), ("", {"version": None}))
"""Each Admin API rule is served under ``/admin/api/<version>`` and, version-less, under ``/admin``."""

blueprint = ApiBlueprint("shopify", __name__, api="shopify", url_prefix="/admin",
                         gates=(authenticate, rest_limit, check_shop_state), finish=add_headers,
                         routes=(customers.routes, orders.routes, store.routes), variants=VERSIONED)
blueprint.register_error_handler(SimError, shopify_error)
