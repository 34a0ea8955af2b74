"""What every blueprint shares: declaring routes under stable names (``rivo.customers.get``) that faults, rate
limits, the journal and scenarios refer to, and finding the simulator and the shop from inside a view."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Blueprint, current_app, g
from werkzeug.wrappers import Response

from rivosim.http.app import ROUTE_NAMES

if TYPE_CHECKING:
    from rivosim.domain.shop import Shop
    from rivosim.engine import Simulator

__all__ = ["current_shop", "current_sim", "route_declarer"]

View = Callable[..., Response]


def route_declarer(blueprint: Blueprint) -> Callable[[str, str, str], Callable[[View], View]]:
    """``route = route_declarer(bp)``, then ``@route("/path", "GET", "control.things.get")``."""

    def route(rule: str, method: str, name: str) -> Callable[[View], View]:
        endpoint = name.split(".", 1)[1].replace(".", "__")
        ROUTE_NAMES[f"{blueprint.name}.{endpoint}"] = name

        def wrap(view: View) -> View:
            blueprint.add_url_rule(rule, endpoint=endpoint, view_func=view, methods=[method])
            return view

        return wrap

    return route


def current_sim() -> Simulator:
    return current_app.sim  # type: ignore[attr-defined, no-any-return]


def current_shop(domain: str) -> Shop:
    """The shop named in the path (404 in the API's shape when there is none), noted for the journal."""
    shop = current_sim().shop(domain)
    g.shop = shop
    return shop
