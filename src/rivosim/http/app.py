"""``create_app(sim)``: the one WSGI app every transport serves (server shell, in-process mode, scenarios).

The request pipeline, one stage after another, for every API::

    size check → route match → the API's gates (tenant + auth, rate limit, ...) → faults → view
    → service time (how long the view's work takes, when the shop models it: ``service_time.py``)
    → post-view faults (commit-then-fail, malformed or slow bodies, read-after-write lag) → the API's finish
    → journal

- APIs plug in one way: each is an :class:`~rivosim.http.routing.ApiBlueprint` (route groups declared under stable
  names, its gates and its finish) that ``create_app`` plugs into the app it builds (:meth:`RivosimFlask.plug`).
  The route table is ``app.routes`` (a list of :class:`~rivosim.http.routing.RouteSpec`); more gates can be put
  in front of an API's own with :meth:`RivosimFlask.add_gate` (the control API has none of its own).
- Per-request state is one object, :class:`~rivosim.http.state.RequestState`, made in ``wsgi_app`` (also at
  ``environ["rivosim.req"]``) and current for the request (:func:`~rivosim.http.state.current_req`); the request
  object Flask makes is attached to it (:class:`ApiRequest`). The pipeline runs from Flask's public, documented
  methods: ``wsgi_app`` (lock, clock, state), ``dispatch_request`` (gates and the fault stage, before the view)
  and ``process_response`` (post-view faults, finish, journal, around Flask's own after-request processing). An
  idle stage costs a dict lookup: with no fault rule naming a request, the fault stage is one cached
  ``FaultSet.candidates`` lookup.
- A gate answers (a refusal) or raises a ``SimError`` (the API's error shape) to stop the request; it sets
  ``state.shop`` so rules can match on the shop and the journal names it. A 429 a gate answers is journaled as
  that API's limit.
- Faults apply to the ``rivo`` and ``shopify`` APIs; control API requests (``/_rivosim``) meet only rules that say
  ``api: control``. The responses a fault makes are built in ``fault_responses.py``. Requests that match no route
  are never faulted: they get a 404 (405 for a wrong method) in the API's shape, and a journal entry naming the
  nearest routes and why each did not match (``unmatched.py``).
- The pipeline *decides* what the client meets and leaves a :class:`~rivosim.kernel.transport_action.TransportAction` in
  the environ; the server shell and in-process mode (``rivosim.transports.inprocess``) carry it out. Latency also
  advances the request's shop's clock here when it is virtual, in both modes (so journals and rate limits agree
  across modes), and no other clock; on a wall clock the wait is real.

Domain refusals become each API's error shape; an unexpected exception is a simulator bug: 500 with
``X-Rivosim-Bug: 1``, recorded in ``sim.bugs`` and the journal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.wrappers import Response

from rivosim.faults.fault_set import WRITE_METHODS, RequestFacts
from rivosim.http import lag as lagging
from rivosim.http import service_time
from rivosim.http.control.health import HEALTH_PATHS
from rivosim.http.control.health import answer as health_answer
from rivosim.http.errors import api_of_path, error_response, sim_error_response
from rivosim.http.fault_responses import carry_out, injected_error, no_response
from rivosim.http.lean_flask import LeanFlask
from rivosim.http.params import raw_body
from rivosim.http.routing import ApiBlueprint, RouteSpec
from rivosim.http.state import CURRENT, REQ_KEY, Finish, Gate, RequestState, current_req, request_shop
from rivosim.kernel.errors import SimError
from rivosim.kernel.journal import JournalEntry, parse_body
from rivosim.kernel.transport_action import TransportAction

if TYPE_CHECKING:
    from rivosim.engine import Simulator

__all__ = ["ApiRequest", "RivosimFlask", "create_app"]

MAX_BODY_BYTES = 16 * 1024 * 1024
JOURNAL_BODY_BYTES = 1024 * 1024  # bodies above this are not kept in the journal


class _Plan:
    """What the pipeline does for one endpoint: its route, the gates in order, the finish."""

    __slots__ = ("finish", "gates", "spec")

    def __init__(self, spec: RouteSpec, gates: tuple[Gate, ...], finish: Finish | None) -> None:
        self.spec = spec
        self.gates = gates
        self.finish = finish


class ApiRequest(Request):
    """Flask's request, attached to the request's :class:`RequestState` as soon as Flask makes it."""

    def __init__(self, environ: dict[str, Any], populate_request: bool = True, shallow: bool = False) -> None:
        super().__init__(environ, populate_request, shallow)
        state = environ.get(REQ_KEY)
        if state is not None:
            state.request = self


class RivosimFlask(LeanFlask):
    """The app ``create_app`` builds: Flask, plus the route table, the gates and the request pipeline."""

    request_class = ApiRequest
    sim: Simulator
    # A direct path for the hottest reads that needs no Flask request (``http/rivo/fast.py``), or None: called
    # with the request's state, the environ and start_response; answers, or returns None having changed nothing.
    fast_reads: Callable[[RequestState, dict[str, Any], Any], list[bytes] | None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._routes: list[RouteSpec] = []
        self._plans: dict[str, _Plan] = {}  # Flask endpoint -> what the pipeline does for it
        self._route_plans: dict[str, _Plan] = {}  # route name -> the same
        self._blueprints: list[ApiBlueprint] = []
        self._added_gates: dict[str, tuple[Gate, ...]] = {}  # api -> gates run before its blueprints' own
        self.started = time.monotonic()  # the health probe's uptime_s counts from here

    # -- plugging in ------------------------------------------------------------------------------------------
    def plug(self, blueprint: ApiBlueprint) -> None:
        """Serve an API's blueprint: its routes join ``routes``, its gates and finish the pipeline."""
        self.register_blueprint(blueprint)
        self._blueprints.append(blueprint)
        self._routes.extend(blueprint.specs())
        self._plan(blueprint)

    def add_gate(self, api: str, gate: Gate) -> None:
        """Run ``gate`` for every route of ``api`` (``rivo``, ``shopify``, ``control``) before the API's own gates
        (e.g. a token check in front of the control API). Gates added later run after those added earlier."""
        self._added_gates[api] = (*self._added_gates.get(api, ()), gate)
        for blueprint in self._blueprints:
            if blueprint.api == api:
                self._plan(blueprint)

    def added_gates(self, api: str) -> tuple[Gate, ...]:
        """The gates added with :meth:`add_gate` for ``api``: also run before a path of that API that matches no
        route is explained (a client the gates refuse learns nothing of the routes)."""
        return self._added_gates.get(api, ())

    def _plan(self, blueprint: ApiBlueprint) -> None:
        gates = (*self._added_gates.get(blueprint.api, ()), *blueprint.gates)
        for spec in blueprint.specs():
            self._plans[spec.endpoint] = self._route_plans[spec.name] = _Plan(spec, gates, blueprint.finish)

    def plan_of(self, route: str) -> _Plan | None:
        """What the pipeline does for the route named ``route`` (``rivo.customers.get``): spec, gates, finish."""
        return self._route_plans.get(route)

    @property
    def routes(self) -> list[RouteSpec]:
        """The route table: every route the app serves, in the order the APIs were plugged in."""
        return list(self._routes)

    def route_spec(self, endpoint: str | None) -> RouteSpec | None:
        """The route served by a Flask endpoint (``rivo.customers__get``), or None."""
        plan = self._plans.get(endpoint or "")
        return plan.spec if plan is not None else None

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:  # type: ignore[override]
        if environ.get("PATH_INFO") in HEALTH_PATHS and environ.get("REQUEST_METHOD") == "GET":
            return health_answer(self.started, start_response)  # never waits on the lock (control/health.py)
        sim = self.sim
        # The domain is single-threaded: one request at a time touches it (cheap when uncontended).
        with sim.lock:
            clock = sim.clock
            at = clock.hold()  # one request, one instant (see Clock.hold)
            state = environ[REQ_KEY] = RequestState(sim, time.perf_counter(), at,
                                                    api_of_path(environ.get("PATH_INFO", "")))
            token = CURRENT.set(state)
            try:
                fast = self.fast_reads
                if fast is not None and environ.get("REQUEST_METHOD") == "GET":
                    answer = fast(state, environ, start_response)  # None: not for it (nothing happened)
                    if answer is not None:
                        return answer
                return super().wsgi_app(environ, start_response)
            finally:
                CURRENT.reset(token)
                clock.release()
                state.release_shop_clock()

    # -- before the view -------------------------------------------------------------------------------------
    def dispatch_request(self) -> Any:
        """The gates and the fault stage, then Flask's own dispatch (the view)."""
        state = CURRENT.get()
        req = state.request
        if req is not None and req.routing_exception is None:
            rv = self._before(state, req)
            if rv is not None:
                return rv
        rv = super().dispatch_request()
        shop = state.shop
        if shop is not None and shop.settings.service_time.enabled:
            service_time.charge(state, rv)  # the shop's model: latency from the work the view did
        return rv

    def _before(self, state: RequestState, req: Request) -> Any:
        plan = self._plans.get(req.url_rule.endpoint)  # type: ignore[union-attr]
        if plan is not None:
            state.spec = plan.spec
            state.route = plan.spec.name
            state.finish = plan.finish
        length = req.environ.get("CONTENT_LENGTH")
        if length and len(length) >= 8 and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return error_response(state.api, 413, f"the request body is {length} bytes; the limit is "
                                                  f"{MAX_BODY_BYTES}")
        if plan is not None:
            for gate in plan.gates:
                rv = gate(state)
                if rv is not None:
                    return rv
        if self.sim.faults.rules:
            return self._faults(state, req, state.route)
        return None

    def _faults(self, state: RequestState, req: Request, route: str | None) -> Response | None:
        faults = self.sim.faults
        method = req.environ["REQUEST_METHOD"]
        shop = state.shop
        if shop is None and req.view_args and "domain" in req.view_args:  # control routes name their shop
            shop = state.shop = self.sim.shops.get(req.view_args["domain"])
        candidates = faults.candidates(state.api, route, method, shop.domain if shop is not None else None)
        if not candidates:
            return None
        body = None
        if any("body" in r.match for r in candidates):
            body = parse_body(req.get_data(cache=True), req.environ.get("CONTENT_TYPE"))
        facts = RequestFacts(state.api, route, method, shop.domain if shop is not None else None, req.headers, body)
        decision = faults.decide_among(candidates, facts, state.at)
        if decision.empty:
            return None
        state.decision = decision
        if decision.lag is not None and shop is not None:
            state.lag = lagging.before_write(shop, route, req, float(decision.lag.action["seconds"]))
            if state.lag is None:
                state.note(f"read_after_write_lag: the shop has over {lagging.GENERIC_LIMIT} members and this route "
                           "names no customer, so nothing lags")
        terminal = decision.terminal
        if terminal is None:
            return None
        kind = terminal.kind
        if kind == "error":
            return injected_error(state, terminal)
        if kind in ("timeout", "reset", "empty_reply"):
            return no_response(state, terminal, kind)  # the request never reaches the view
        return None  # commit_then_fail, malformed_body and slow_body act on the view's response

    # -- after the view --------------------------------------------------------------------------------------
    def process_response(self, response: Response) -> Response:  # type: ignore[override]
        """Post-view faults, then the API's finish (so an injected response still gets the API's own headers),
        then Flask's own after-request processing, then the journal."""
        state = CURRENT.get()
        req = state.request
        action: TransportAction | None = None
        status, extra = response.status_code, 0.0
        if state.decision is not None:
            response, action, status, extra = carry_out(state, state.decision, response, req.environ)  # type: ignore[union-attr]
        if state.finish is not None:
            response = state.finish(state, response)
        response = super().process_response(response)
        if action is None:
            status = response.status_code
        self.journal(state, req.environ, req, response, action, status, extra)  # type: ignore[union-attr]
        return response

    def journal(self, state: RequestState, environ: dict[str, Any], req: Request | None, response: Response | None,
                action: TransportAction | None, status: int, extra: float = 0.0) -> None:
        """The request's journal entry (``req`` reads a write's body; ``response`` a lagged write's status and a
        429's ``Retry-After``): the last stage of the pipeline, also of the fast reads (``http/rivo/fast.py``)."""
        sim = self.sim
        decision = state.decision
        latency = decision.latency if decision is not None else 0.0
        if state.lag is not None:
            view_status = state.view_status if state.view_status is not None else response.status_code  # type: ignore[union-attr]
            lagging.after_write(sim, state.lag, state.at, applied=200 <= view_status < 300)
            state.lag = None
        shop = state.shop
        notes = state.notes
        if status == 429 and state.limit is None and (decision is None or decision.terminal is None):
            retry_after = response.headers.get("Retry-After", "?") if response is not None else "?"
            state.limit = f"{state.api} rate limit (Retry-After {retry_after})"
        method = environ["REQUEST_METHOD"]
        body = ctype = None
        if method in WRITE_METHODS:
            ctype = environ.get("CONTENT_TYPE")
            try:
                length = environ.get("CONTENT_LENGTH")
                small = not length or not length.isdigit() or int(length) <= JOURNAL_BODY_BYTES
                body = raw_body(req) if small and req is not None else None
            except Exception:  # an unreadable body (too large, cut short) is not the journal's problem
                body = None
        journal = sim.journal
        journal.append(JournalEntry(
            journal.next_seq(), state.at, request_shop(sim, state, environ), state.api, state.route, method,
            environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""), status,
            (time.perf_counter() - state.t0) * 1000, fault=decision.describe() if decision is not None else None,
            error=state.error, notes=notes, faults=decision.fired if decision is not None else None,
            limit=state.limit, latency_ms=round(latency * 1000, 3),
            action=action.kind if action is not None and action.kind != "respond" else None,
            nearest=state.nearest, body=body, content_type=ctype))
        if (latency or extra) and shop is not None and shop.clock.kind == "virtual" and shop.domain in sim.shops:
            # The client waits in simulator time too, alike in both modes (same clock, limits, journal). Only its
            # shop's clock moves: one test's slow request must not shift other shops' instants. A request no shop
            # owns moves no clock (moving the simulator's own would shift the start of shops made afterwards).
            sim.advance_shop(shop.domain, latency + extra)


# -- the app ----------------------------------------------------------------------------------------------
def create_app(sim: Simulator, control_token: str | None = None) -> RivosimFlask:
    """A new app serving ``sim``: the Rivo API, the Shopify Admin API (REST and GraphQL) and the control API
    (guarded by ``control_token`` when one is given)."""
    from rivosim.http.control import admin as control_admin
    from rivosim.http.control import clock as control_clock
    from rivosim.http.control import core as control
    from rivosim.http.control import faults, health, items, snapshot, ui, webhooks
    from rivosim.http.control import shopify as control_shopify
    from rivosim.http.control import token as control_token_module
    from rivosim.http.openapi import serve as openapi_docs
    from rivosim.http.rivo.blueprint import blueprint as rivo
    from rivosim.http.rivo.fast import FastCustomerRead
    from rivosim.http.shopify.blueprint import blueprint as shopify
    from rivosim.http.shopify.graphql.endpoint import blueprint as shopify_graphql
    from rivosim.http.unmatched import unmatched

    app = RivosimFlask("rivosim")
    app.sim = sim
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.url_map.strict_slashes = False
    # Werkzeug would answer "//" in a path (e.g. an identifier that was an encoded "/") with an HTML 308
    # redirect to another route; an API answers with its own JSON 404 instead.
    app.url_map.merge_slashes = False
    for blueprint in (rivo, control.blueprint, webhooks.blueprint, faults.blueprint, shopify, shopify_graphql,
                      control_shopify.blueprint, control_admin.blueprint, control_clock.blueprint, items.blueprint,
                      health.blueprint, *ui.BLUEPRINTS,  # the inspector and the control routes it adds
                      snapshot.blueprint, openapi_docs.blueprint):
        app.plug(blueprint)

    # An exception inside an error handler would escape every handler (Flask answers a bare HTML 500 and
    # nothing is recorded), so the handlers that build bodies from request data fall back to ``_bug``.
    @app.errorhandler(SimError)
    def _sim_error(exc: SimError) -> Response:
        try:
            return sim_error_response(current_req().api, exc)
        except Exception as failure:
            return _bug(failure)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        try:
            api = current_req().api
            if isinstance(exc, NotFound | MethodNotAllowed):
                state = current_req()
                for gate in app.added_gates(api):
                    refusal = gate(state)
                    if refusal is not None:
                        return refusal
                return unmatched(app, state, exc)
            return error_response(api, exc.code or 400, exc.description or exc.name)
        except Exception as failure:
            return _bug(failure)

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> Response:
        state = current_req()
        req = state.request
        sim.record_bug(exc, f"{req.method} {req.path}" if req is not None else "(no request)")
        if req is not None and (domain := request_shop(sim, state, req.environ)) is not None:
            sim.bugs[-1]["shop"] = domain  # whose request met it (a scenario counts its own shop's)
        response = error_response(state.api, 500, f"rivosim bug: {type(exc).__name__}: {exc}")
        response.headers["X-Rivosim-Bug"] = "1"
        state.error = f"{type(exc).__name__}: {exc}"
        return response

    control_token_module.install_control_token(app, control_token)  # with a token, /_rivosim needs it
    app.fast_reads = FastCustomerRead(app)
    return app
