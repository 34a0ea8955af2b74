"""``create_app(sim)``: the one WSGI app every transport serves (server shell, in-process mode, scenarios).

The request pipeline, one stage after another, for every API::

    size check → route match → tenant + auth (the API's gate) → rate limit → blueprint hooks → faults → view
    → post-view faults (commit-then-fail, malformed or slow bodies, read-after-write lag) → journal

- Per-request state is one plain object, :class:`RequestState`, in ``environ["rivosim.req"]``, built in
  ``RivosimFlask.wsgi_app``; views and hooks reach it with :func:`current_req`. The pipeline runs from
  ``full_dispatch_request``/``process_response`` directly (no ``before_request``/``after_request`` hooks of its
  own), and an idle stage costs a dict lookup: with no fault rule naming a request, the fault stage is one cached
  ``FaultSet.candidates`` lookup.
- An API's gate (tenant + auth) and its rate limit are registered with :func:`register_gate` (the Rivo API does:
  15 requests/s per API key, burst 15, 429 with ``Retry-After`` in whole seconds rounded up).
- An API may instead do tenant, auth and its own limits in its blueprint's ``before_request`` hook (the Shopify
  Admin API does: token auth and the leaky bucket). Those hooks run after the gates and *before* the fault stage,
  so the order is the same for every API. Such a hook sets ``g.shop`` (or ``current_req().shop``) so rules can
  match on the shop and the journal names it; a 429 it answers is journaled as that API's limit. Blueprint
  ``after_request`` hooks run before the journal, so injected error responses get the API's usual headers too.
- Faults apply to the ``rivo`` and ``shopify`` APIs; control API requests (``/_rivosim``) meet only rules that say
  ``api: control``. The responses a fault makes are built in ``fault_responses.py``. Requests that match no route
  are never faulted: they get a 404 (405 for a wrong method) in the API's shape, and a journal entry naming the
  nearest routes and why each did not match (``unmatched.py``).
- The pipeline *decides* what the client meets and leaves a :class:`~rivosim.kernel.transport_action.TransportAction` in
  the environ; the server shell and in-process mode (``rivosim.transports.inprocess``) carry it out. Latency also
  advances a virtual clock here, in both modes (so journals and rate limits agree across modes); on a wall clock the
  wait is real.

Domain refusals become each API's error shape; an unexpected exception is a simulator bug: 500 with
``X-Rivosim-Bug: 1``, recorded in ``sim.bugs`` and the journal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import chain
from typing import TYPE_CHECKING, Any

from flask import Flask, g, request, request_started
from flask.globals import _cv_app, _cv_request
from werkzeug.exceptions import BadHost, HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import MapAdapter, Rule
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import get_host

from rivosim.faults.fault_set import WRITE_METHODS, Decision, RequestFacts
from rivosim.http import lag as lagging
from rivosim.http.errors import api_of_path, error_response, sim_error_response
from rivosim.http.fault_responses import carry_out, injected_error, no_response
from rivosim.http.params import raw_body
from rivosim.kernel.errors import SimError
from rivosim.kernel.journal import JournalEntry, parse_body
from rivosim.kernel.transport_action import TransportAction

if TYPE_CHECKING:
    from datetime import datetime

    from rivosim.domain.shop import Shop
    from rivosim.engine import Simulator

__all__ = ["GATES", "REQ_KEY", "ROUTE_NAMES", "RequestState", "create_app", "current_req", "register_gate",
           "route_name", "state_of"]

ROUTE_NAMES: dict[str, str] = {}
"""Flask endpoint -> stable route name (``rivo.customers.get``). Filled as blueprints declare routes."""

REQ_KEY = "rivosim.req"
"""WSGI environ key of the request's :class:`RequestState`."""

MAX_BODY_BYTES = 16 * 1024 * 1024
JOURNAL_BODY_BYTES = 1024 * 1024  # bodies above this are not kept in the journal

Gate = Callable[["Simulator", "RequestState", Request], "Response | None"]
GATES: dict[str, tuple[Gate, Gate | None]] = {}
"""api -> (gate, rate limit): tenant + auth, then the API's limit. Each may answer (a refusal) or return None."""


def register_gate(api: str, gate: Gate, limit: Gate | None = None) -> None:
    """Run ``gate`` (tenant + auth; sets ``state.shop``) then ``limit`` for every routed request of ``api``."""
    GATES[api] = (gate, limit)


def route_name(endpoint: str | None) -> str | None:
    return ROUTE_NAMES.get(endpoint or "")


class RequestState:
    """What the pipeline knows about one request; the journal entry is made from it."""

    __slots__ = ("api", "at", "decision", "error", "lag", "limit", "nearest", "notes", "route", "shop", "t0",
                 "view_status")

    def __init__(self, t0: float, at: datetime, api: str) -> None:
        self.t0 = t0
        self.at = at  # simulator time on arrival: rate limits, fault windows, lag and the journal use it
        self.api = api
        self.route: str | None = None
        self.shop: Shop | None = None
        self.decision: Decision | None = None
        self.limit: str | None = None
        self.notes: list[str] | None = None
        self.nearest: list[dict[str, str]] | None = None
        self.error: str | None = None
        self.lag: lagging.Pending | None = None
        self.view_status: int | None = None  # what the view answered, when a fault replaced its response

    def note(self, text: str) -> None:
        if self.notes is None:
            self.notes = [text]
        else:
            self.notes.append(text)


def current_req() -> RequestState:
    """The current request's :class:`RequestState` (inside a request of ``create_app``'s app)."""
    return _cv_request.get().request.environ[REQ_KEY]  # type: ignore[no-any-return]


def state_of(req: Request, sim: Simulator) -> RequestState:
    state = req.environ.get(REQ_KEY)
    if state is None:  # a request context pushed without wsgi_app (app.test_request_context)
        state = req.environ[REQ_KEY] = RequestState(time.perf_counter(), sim.now(), api_of_path(req.path))
    return state  # type: ignore[no-any-return]


class LazyBuilderRule(Rule):
    """A route whose URL builder is compiled on first use. Werkzeug compiles one for every rule up front (about
    1 ms each, ~180 rules here) although rivosim never builds URLs from routes: this halves start-up."""

    def _compile_builder(self, append_unknown: bool = True) -> Any:
        compile_now = super()._compile_builder
        real: list[Any] = []

        def build(rule: Rule, *args: Any, **kwargs: Any) -> Any:
            if not real:
                real.append(compile_now(append_unknown))
            return real[0].__get__(rule, None)(*args, **kwargs)

        return build


def _wsgi_text(value: str) -> str:
    # PEP 3333 strings are latin-1 decoded bytes; werkzeug re-decodes them as UTF-8 (its "decoding dance").
    return value if value.isascii() else value.encode("latin1").decode("utf-8", "replace")


class RivosimFlask(Flask):
    url_rule_class = LazyBuilderRule
    sim: Simulator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server_names: dict[str, str] = {}  # Host header -> server name, for create_url_adapter

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:  # type: ignore[override]
        """What Flask's ``create_url_adapter`` builds (no SERVER_NAME, no subdomain or host matching, no
        trusted hosts), without ``bind_to_environ`` parsing the Host header a second time and IDNA-encoding it
        on every request: the server name is cached per Host value."""
        if request is None or self.config["TRUSTED_HOSTS"] is not None or self.config["SERVER_NAME"] is not None:
            return super().create_url_adapter(request)
        env = request.environ
        host = request.host = get_host(env)  # type: ignore[misc]
        names = self._server_names
        server_name = names.get(host)
        if server_name is None:
            name, sep, port = host.lower().partition(":")
            try:
                server_name = name.encode("idna").decode("ascii") + sep + port
            except UnicodeError as exc:
                raise BadHost() from exc
            if len(names) >= 256:  # any Host header can reach us: keep the cache bounded
                names.clear()
            names[host] = server_name
        return MapAdapter(self.url_map, server_name, _wsgi_text(env.get("SCRIPT_NAME") or "") or "/",
                          self.url_map.default_subdomain or "", env["wsgi.url_scheme"],
                          _wsgi_text(env.get("PATH_INFO") or "") or "/", env["REQUEST_METHOD"],
                          _wsgi_text(env.get("QUERY_STRING", "")))

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:  # type: ignore[override]
        sim = self.sim
        # The domain is single-threaded: one request at a time touches it (cheap when uncontended).
        with sim.lock:
            clock = sim.clock
            at = clock.hold()  # one request, one instant (see Clock.hold)
            try:
                environ[REQ_KEY] = RequestState(time.perf_counter(), at, api_of_path(environ.get("PATH_INFO", "")))
                return super().wsgi_app(environ, start_response)
            finally:
                clock.release()

    # -- before the view -------------------------------------------------------------------------------------
    def full_dispatch_request(self) -> Response:
        self._got_first_request = True
        req = _cv_request.get().request
        try:
            if request_started.receivers:
                request_started.send(self, _async_wrapper=self.ensure_sync)
            rv = None
            if req.routing_exception is None:
                rv = self._before(state_of(req, self.sim), req)
            if rv is None:
                rv = self.dispatch_request()
        except Exception as e:
            rv = self.handle_user_exception(e)
        return self.finalize_request(rv)

    def _before(self, state: RequestState, req: Request) -> Any:
        route = state.route = ROUTE_NAMES.get(req.url_rule.endpoint)  # type: ignore[union-attr]
        length = req.environ.get("CONTENT_LENGTH")
        if length and len(length) >= 8 and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return error_response(state.api, 413, f"the request body is {length} bytes; the limit is "
                                                  f"{MAX_BODY_BYTES}")
        stages = GATES.get(state.api)
        if stages is not None:
            gate, limit = stages
            rv = gate(self.sim, state, req)
            if rv is not None:
                return rv
            if limit is not None:
                rv = limit(self.sim, state, req)
                if rv is not None:
                    return rv
        hooks, pre, bp = self.before_request_funcs, self.url_value_preprocessors, req.blueprint
        if (hooks and (None in hooks or bp in hooks)) or (pre and (None in pre or bp in pre)):
            rv = self.preprocess_request()  # a blueprint's own tenant/auth/limit (the Shopify API's)
            if rv is not None:
                return rv
        if self.sim.faults.rules:
            return self._faults(state, req, route)
        return None

    def _faults(self, state: RequestState, req: Request, route: str | None) -> Response | None:
        faults = self.sim.faults
        method = req.environ["REQUEST_METHOD"]
        shop = state.shop
        if shop is None:
            shop = g.get("shop")
            if shop is None and req.view_args and "domain" in req.view_args:  # control routes name their shop
                shop = self.sim.shops.get(req.view_args["domain"])
            state.shop = shop
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
    def process_response(self, response: Response) -> Response:
        ctx = _cv_request.get()
        req = ctx.request
        state = state_of(req, self.sim)
        # Post-view faults first, so an injected response still gets the API's own headers from its hooks.
        action: TransportAction | None = None
        status, extra = response.status_code, 0.0
        if state.decision is not None:
            response, action, status, extra = carry_out(state, state.decision, response, req.environ)
        funcs = self.after_request_funcs
        if ctx._after_request_functions or (funcs and (None in funcs or req.blueprint in funcs)):
            for func in ctx._after_request_functions:
                response = self.ensure_sync(func)(response)
            for name in chain(req.blueprints, (None,)):
                if name in funcs:
                    for func in reversed(funcs[name]):
                        response = self.ensure_sync(func)(response)
        if not self.session_interface.is_null_session(ctx._session):
            self.session_interface.save_session(self, ctx._session, response)
        if action is None:
            status = response.status_code
        self._journal(state, req, response, action, status, extra)
        return response

    def _journal(self, state: RequestState, req: Request, response: Response, action: TransportAction | None,
                 status: int, extra: float) -> None:
        sim = self.sim
        environ = req.environ
        decision = state.decision
        latency = decision.latency if decision is not None else 0.0
        if state.lag is not None:
            view_status = state.view_status if state.view_status is not None else response.status_code
            lagging.after_write(sim, state.lag, state.at, applied=200 <= view_status < 300)
            state.lag = None
        app_g = _cv_app.get().g  # ``g`` without its proxy: the journal runs on every request
        shop = state.shop
        if shop is None:
            shop = state.shop = app_g.get("shop")
        notes = state.notes
        more = app_g.get("notes")  # blueprints that keep notes on g (the Shopify API)
        if more:
            notes = [*(notes or ()), *(n for n in more if n not in (notes or ()))]
        if status == 429 and state.limit is None and (decision is None or decision.terminal is None):
            state.limit = f"{state.api} rate limit (Retry-After {response.headers.get('Retry-After', '?')})"
        method = environ["REQUEST_METHOD"]
        body = ctype = None
        if method in WRITE_METHODS:
            ctype = environ.get("CONTENT_TYPE")
            try:
                length = environ.get("CONTENT_LENGTH")
                small = not length or not length.isdigit() or int(length) <= JOURNAL_BODY_BYTES
                body = raw_body(req) if small else None
            except Exception:  # an unreadable body (too large, cut short) is not the journal's problem
                body = None
        journal = sim.journal
        journal.append(JournalEntry(
            journal.next_seq(), state.at, shop.domain if shop is not None else None, state.api, state.route, method,
            environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""), status,
            (time.perf_counter() - state.t0) * 1000, fault=decision.describe() if decision is not None else None,
            error=state.error, notes=notes, faults=decision.fired if decision is not None else None,
            limit=state.limit, latency_ms=round(latency * 1000, 3),
            action=action.kind if action is not None and action.kind != "respond" else None,
            nearest=state.nearest, body=body, content_type=ctype))
        if (latency or extra) and sim.clock.kind == "virtual":
            # The client waits in simulator time too: the same in server mode (where the shell also waits in real
            # time) and in-process mode, so both modes see the same clock, rate limits and journal.
            sim.advance(latency + extra)


# -- the app ----------------------------------------------------------------------------------------------
def create_app(sim: Simulator) -> Flask:
    # Blueprints register their route names on import; the Shopify Admin API comes with its control routes.
    from rivosim.http.control import admin as control_admin
    from rivosim.http.control import core as control
    from rivosim.http.control import faults as control_faults
    from rivosim.http.control import shopify as control_shopify
    from rivosim.http.control import ui as control_ui
    from rivosim.http.control import webhooks as control_webhooks
    from rivosim.http.rivo import views as rivo
    from rivosim.http.shopify import blueprint as shopify
    from rivosim.http.shopify.graphql import endpoint as shopify_graphql
    from rivosim.http.unmatched import unmatched

    app = RivosimFlask("rivosim")
    app.sim = sim
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.url_map.strict_slashes = False
    # Werkzeug would answer "//" in a path (e.g. an identifier that was an encoded "/") with an HTML 308
    # redirect to another route; an API answers with its own JSON 404 instead.
    app.url_map.merge_slashes = False
    app.register_blueprint(rivo.blueprint)
    app.register_blueprint(control.blueprint)
    app.register_blueprint(control_webhooks.blueprint)
    app.register_blueprint(control_faults.blueprint)
    app.register_blueprint(shopify.blueprint)
    app.register_blueprint(shopify_graphql.blueprint)
    app.register_blueprint(control_shopify.blueprint)
    app.register_blueprint(control_admin.blueprint)
    for inspector_blueprint in control_ui.BLUEPRINTS:  # the inspector and the control routes it adds
        app.register_blueprint(inspector_blueprint)

    # An exception inside an error handler would escape every handler (Flask answers a bare HTML 500 and
    # nothing is recorded), so the handlers that build bodies from request data fall back to ``_bug``.
    @app.errorhandler(SimError)
    def _sim_error(exc: SimError) -> Response:
        try:
            return sim_error_response(state_of(request, sim).api, exc)
        except Exception as failure:
            return _bug(failure)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        try:
            api = state_of(request, sim).api
            if isinstance(exc, NotFound | MethodNotAllowed):
                return unmatched(app, api, exc)
            return error_response(api, exc.code or 400, exc.description or exc.name)
        except Exception as failure:
            return _bug(failure)

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> Response:
        sim.record_bug(exc, f"{request.method} {request.path}")
        state = state_of(request, sim)
        response = error_response(state.api, 500, f"rivosim bug: {type(exc).__name__}: {exc}")
        response.headers["X-Rivosim-Bug"] = "1"
        state.error = f"{type(exc).__name__}: {exc}"
        return response

    return app
