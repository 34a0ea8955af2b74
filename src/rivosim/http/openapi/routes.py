"""The one place this package reads the app's routes: :func:`app_routes` turns the app into
``(rule, method, route name)`` rows from the app's own route table (``app.routes``: one :class:`RouteSpec` per
route name, declared with ``rivosim.http.routing.Routes``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["AppRoute", "api_of", "app_routes", "openapi_path", "path_params"]

_CONVERTER = re.compile(r"<(?:[a-z_]+:)?([a-z_]+)>")


@dataclass(frozen=True, slots=True)
class AppRoute:
    rule: str  # werkzeug form: /merchant_api/v1/customers/<identifier>
    method: str
    endpoint: str
    name: str  # the stable route name: rivo.customers.get

    @property
    def api(self) -> str:
        return api_of(self.name)

    @property
    def path(self) -> str:
        return openapi_path(self.rule)


def app_routes(app: Flask) -> list[AppRoute]:
    """Every (rule, method) the app serves under a route name, in declaration order. The Shopify API's
    version-less aliases (``/admin/customers.json``, served by the oldest supported version) are left out: the
    document describes ``/admin/api/{version}/…``."""
    return [AppRoute(spec.rule, spec.method, spec.endpoint, spec.name)
            for spec in app.routes]  # type: ignore[attr-defined]


def api_of(route_name: str) -> str:
    return route_name.split(".", 1)[0]


def openapi_path(rule: str) -> str:
    """``/customers/<identifier>`` -> ``/customers/{identifier}``."""
    return _CONVERTER.sub(r"{\1}", rule)


def path_params(rule: str) -> list[str]:
    return _CONVERTER.findall(rule)
