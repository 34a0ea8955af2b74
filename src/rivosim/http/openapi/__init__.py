"""OpenAPI 3.1 documents generated from the code: one for the Rivo merchant API, one for the Shopify Admin REST
slice (plus its GraphQL SDL), one for the control API. ``build.py`` assembles them from the app's routes
(``routes.py``, the one adapter to the route table), the request declarations (``requests_*.py``) and the
response shape tables (``shapes/*.json``, re-derived by ``derive.py``); ``validate.py`` checks a response
against them (the contract tests' conformance hook, ``conformance.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["APIS", "document", "document_bytes", "document_text", "graphql_sdl"]

APIS = ("rivo", "shopify", "control")
_CACHE_KEY = "rivosim.openapi"


def _cache(app: Flask) -> dict[str, Any]:
    return app.extensions.setdefault(_CACHE_KEY, {})  # type: ignore[no-any-return]


def document(app: Flask, api: str) -> dict[str, Any]:
    """``api``'s document for ``app``, built once per app (callers must not change it)."""
    cache = _cache(app)
    if api not in cache:
        from rivosim.http.openapi.build import build_document

        cache[api] = build_document(app, api)
    return cache[api]  # type: ignore[no-any-return]


def document_text(app: Flask, api: str) -> str:
    """The document as committed under ``docs/openapi/``: sorted keys, two-space indent, a final newline."""
    return document_bytes(app, api).decode()


def document_bytes(app: Flask, api: str) -> bytes:
    """The document's bytes as served and committed (orjson: ~20x faster than ``json.dumps`` with an indent)."""
    cache = _cache(app)
    key = f"{api}:bytes"
    if key not in cache:
        cache[key] = orjson.dumps(document(app, api), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    return cache[key]  # type: ignore[no-any-return]


def graphql_sdl() -> str:
    from graphql import print_schema

    from rivosim.http.shopify.graphql.schema import schema

    return print_schema(schema()) + "\n"
