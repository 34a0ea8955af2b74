"""One way to plug an API into the app. A module declares its routes under stable names (``rivo.customers.get``)
that faults, rate limits, the journal and scenarios refer to, with :class:`Routes`; an :class:`ApiBlueprint`
gathers route groups with the API's gates (tenant + auth, rate limit, ...) and what it adds to every response;
``create_app`` plugs each blueprint into the app it builds (``RivosimFlask.plug``), whose route table
(``app.routes``) lists every route as a :class:`RouteSpec`. Nothing is registered anywhere but on that app.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint
from werkzeug.wrappers import Response

from rivosim.http.state import Finish, Gate, RouteSpec, current_req

if TYPE_CHECKING:
    from flask.sansio.app import App

    from rivosim.domain.shop import Shop
    from rivosim.engine import Simulator

__all__ = ["ApiBlueprint", "RouteSpec", "Routes", "current_shop", "current_sim"]

View = Callable[..., Response]


@dataclass(frozen=True, slots=True)
class _Declared:
    rule: str
    method: str
    name: str
    scope: str | None
    view: View


class Routes:
    """A module's routes: ``routes = Routes()``, then ``@routes.route("/customers", "GET", "rivo.customers.list")``
    (plus the Shopify access scope the route needs, if any). An :class:`ApiBlueprint` serves them."""

    def __init__(self) -> None:
        self.declared: list[_Declared] = []

    def route(self, rule: str, method: str, name: str, scope: str | None = None) -> Callable[[View], View]:
        def wrap(view: View) -> View:
            self.declared.append(_Declared(rule, method, name, scope, view))
            return view

        return wrap


class ApiBlueprint(Blueprint):
    """A Flask blueprint made of route groups, with the API's gates (run in order before the view, after the
    app's body-size check and before the fault stage) and its ``finish`` (run on every response of its routes,
    error responses included). ``variants`` serve each rule under several prefixes: ``(prefix, defaults)``; other
    keywords are Flask's (``template_folder``)."""

    def __init__(self, name: str, import_name: str, *, api: str, url_prefix: str, routes: Sequence[Routes],
                 gates: Sequence[Gate] = (), finish: Finish | None = None,
                 variants: Sequence[tuple[str, dict[str, Any] | None]] = (("", None),), **flask_options: Any) -> None:
        super().__init__(name, import_name, url_prefix=url_prefix, **flask_options)
        self.api = api
        self.gates = tuple(gates)
        self.finish = finish
        self._groups = tuple(routes)
        self._variants = tuple(variants)
        self._rules_added = False

    def _endpoint(self, name: str) -> str:
        return name.split(".", 1)[1].replace(".", "__")

    def specs(self) -> list[RouteSpec]:
        """Every route this blueprint serves, in declaration order."""
        prefix = self.url_prefix or ""
        return [RouteSpec(d.name, d.method, prefix + self._variants[0][0] + d.rule, self.api,
                          f"{self.name}.{self._endpoint(d.name)}", d.scope,
                          tuple(prefix + variant + d.rule for variant, _ in self._variants[1:]))
                for group in self._groups for d in group.declared]

    def register(self, app: App, options: dict[str, Any]) -> None:
        """Flask's ``Blueprint.register``, after adding the URL rules of the route groups (once: a blueprint may
        serve several apps)."""
        if not self._rules_added:
            self._rules_added = True
            for group in self._groups:
                for d in group.declared:
                    for variant, defaults in self._variants:
                        extra = {"defaults": defaults} if defaults is not None else {}
                        self.add_url_rule(variant + d.rule, endpoint=self._endpoint(d.name), view_func=d.view,
                                          methods=[d.method], **extra)
        super().register(app, options)


def current_sim() -> Simulator:
    return current_req().sim


def current_shop(domain: str) -> Shop:
    """The shop named in the path (404 in the API's shape when there is none), noted for the journal."""
    state = current_req()
    shop = state.shop = state.sim.shop(domain)
    return shop
