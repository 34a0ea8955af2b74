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
  ``api: control``. Requests that match no route are never faulted: they get a 404 (405 for a wrong method) in
  the API's shape, and a journal entry naming the nearest routes and why each did not match.
- The pipeline *decides* what the client meets and leaves a :class:`~rivosim.transport.TransportAction` in the
  environ; the server shell and in-process mode (``rivosim.inprocess``) carry it out. Latency also advances a
  virtual clock here, in both modes (so journals and rate limits agree across modes); on a wall clock the wait
  is real.

Domain refusals become each API's error shape; an unexpected exception is a simulator bug: 500 with
``X-Rivosim-Bug: 1``, recorded in ``sim.bugs`` and the journal.
"""

from __future__ import annotations

import difflib
import math
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

from ..errors import SimError
from ..faults import WRITE_METHODS, Decision, FaultRule, RequestFacts
from ..journal import JournalEntry, parse_body
from ..transport import ENVIRON_KEY as TRANSPORT_KEY
from ..transport import TransportAction
from . import lag as lagging
from .errors import api_of_path, error_response, sim_error_response
from .params import raw_body

if TYPE_CHECKING:
    from datetime import datetime

    from ..domain.shop import Shop
    from ..engine import Simulator

__all__ = ["GATES", "REQ_KEY", "ROUTE_NAMES", "RequestState", "create_app", "current_req", "register_gate",
           "route_name"]

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


def _state_of(req: Request, sim: Simulator) -> RequestState:
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
    _server_names: dict[str, str]

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
                rv = self._before(_state_of(req, self.sim), req)
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
            return _injected_error(state, terminal)
        if kind in ("timeout", "reset", "empty_reply"):
            return _no_response(state, terminal, kind)  # the request never reaches the view
        return None  # commit_then_fail, malformed_body and slow_body act on the view's response

    # -- after the view --------------------------------------------------------------------------------------
    def process_response(self, response: Response) -> Response:
        ctx = _cv_request.get()
        req = ctx.request
        state = _state_of(req, self.sim)
        # Post-view faults first, so an injected response still gets the API's own headers from its hooks.
        action: TransportAction | None = None
        status, extra = response.status_code, 0.0
        if state.decision is not None:
            response, action, status, extra = _carry_out(state, state.decision, response, req.environ)
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


# -- fault actions --------------------------------------------------------------------------------------------
_NO_RESPONSE = {"timeout": (504, "timed out"), "reset": (502, "was reset"), "empty_reply": (502, "got an empty reply")}
_TRANSPORT_KIND = {"timeout": "hang", "reset": "reset", "empty_reply": "empty_reply"}
_HTML_PAGE = (b"<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
              b"<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n")


def _retry_after(api: str, seconds: float) -> str:
    # Rivo and the control API: whole seconds, rounded up. Shopify writes a decimal ("2.0").
    return f"{math.ceil(seconds * 10) / 10:.1f}" if api == "shopify" else str(math.ceil(seconds))


def _injected_error(state: RequestState, rule: FaultRule) -> Response:
    action = rule.action
    status = int(action["status"])
    headers = {"X-Rivosim-Fault": rule.id}
    if "retry_after" in action:
        headers["Retry-After"] = _retry_after(state.api, float(action["retry_after"]))
    detail = action.get("message") or _phrase(status)
    return error_response(state.api, status, detail, headers=headers)


def _no_response(state: RequestState, rule: FaultRule, kind: str) -> Response:
    """The response a transport never sends (the client meets a timeout, a reset or an empty reply). Only a client
    that ignores transport actions (Flask's test client) sees it, marked with ``X-Rivosim-Transport``."""
    status, what = _NO_RESPONSE[kind]
    return error_response(state.api, status, f"rivosim: this request {what} (fault rule {rule.id}); a real "
                          "transport sends no response", headers={"X-Rivosim-Fault": rule.id,
                                                                  "X-Rivosim-Transport": _TRANSPORT_KIND[kind]})


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _carry_out(state: RequestState, decision: Decision, response: Response, environ: dict[str, Any]
               ) -> tuple[Response, TransportAction | None, int, float]:
    """Apply the post-view part of a decision; returns (response, action, status the client meets, extra seconds
    the transfer takes in simulator time)."""
    latency = decision.latency
    rule = decision.terminal
    kind = rule.kind if rule is not None else None
    extra = 0.0
    if rule is not None and kind == "commit_then_fail":
        view_status = response.status_code
        state.note(f"commit_then_fail ({rule.id}): the view answered {view_status}"
                   + (", so the change is applied" if 200 <= view_status < 300 else ", so nothing was applied"))
        then = rule.action["then"]
        response = _injected_error(state, rule) if then == "error" else _no_response(state, rule, then)
        state.view_status = view_status
        kind = then
    elif rule is not None and kind == "malformed_body":
        _mangle(response, rule.action["mode"])
    action: TransportAction | None = None
    if kind in _TRANSPORT_KIND:
        seconds = rule.action.get("seconds") if kind == "timeout" and rule is not None else None
        action = TransportAction(_TRANSPORT_KIND[kind], delay=latency,  # type: ignore[arg-type]
                                 hang_seconds=float(seconds) if seconds is not None else None)
    elif kind == "slow_body" and rule is not None:
        size, interval = int(rule.action["chunk_size"]), float(rule.action["interval_ms"]) / 1000
        action = TransportAction("dribble", delay=latency, chunk_size=size, chunk_interval=interval)
        extra = math.ceil(len(response.get_data()) / size) * interval
    elif latency:
        action = TransportAction("respond", delay=latency)
    if action is not None:
        environ[TRANSPORT_KEY] = action
    status = 0 if action is not None and action.kind in ("hang", "reset", "empty_reply") else response.status_code
    return response, action, status, extra


def _mangle(response: Response, mode: str) -> None:
    data = response.get_data()
    if mode == "truncated":  # valid HTTP, half a JSON document
        response.set_data(data[:len(data) // 2])
    elif mode == "invalid":  # a JSON document followed by garbage ("Extra data")
        response.set_data(data + b"}")
    elif mode == "html":  # a proxy's error page where JSON was expected
        response.set_data(_HTML_PAGE)
        response.content_type = "text/html"
    else:  # cut: Content-Length promises the whole body, the connection closes half-way through it
        response.set_data(data[:len(data) // 2])
        response.headers["Content-Length"] = str(len(data))
        response.headers["Connection"] = "close"


# -- the app ----------------------------------------------------------------------------------------------
def create_app(sim: Simulator) -> Flask:
    # Blueprints register their route names on import; the Shopify Admin API comes with its control routes.
    from . import (
        control,
        control_admin,
        control_faults,
        control_shopify,
        control_webhooks,
        rivo,
        shopify,
        shopify_graphql,
    )

    app = RivosimFlask("rivosim")
    app.sim = sim
    app._server_names = {}
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

    # An exception inside an error handler would escape every handler (Flask answers a bare HTML 500 and
    # nothing is recorded), so the handlers that build bodies from request data fall back to ``_bug``.
    @app.errorhandler(SimError)
    def _sim_error(exc: SimError) -> Response:
        try:
            return sim_error_response(_state_of(request, sim).api, exc)
        except Exception as failure:
            return _bug(failure)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        try:
            api = _state_of(request, sim).api
            if isinstance(exc, NotFound | MethodNotAllowed):
                return _unmatched(app, api, exc)
            return error_response(api, exc.code or 400, exc.description or exc.name)
        except Exception as failure:
            return _bug(failure)

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> Response:
        sim.record_bug(exc, f"{request.method} {request.path}")
        state = _state_of(request, sim)
        response = error_response(state.api, 500, f"rivosim bug: {type(exc).__name__}: {exc}")
        response.headers["X-Rivosim-Bug"] = "1"
        state.error = f"{type(exc).__name__}: {exc}"
        return response

    return app


# -- unmatched requests ---------------------------------------------------------------------------------------
def _unmatched(app: Flask, api: str, exc: HTTPException) -> Response:
    """404/405 that explains itself: which routes are nearest and why each did not match."""
    method, path = request.method, request.path
    state = _state_of(request, app.sim)  # type: ignore[attr-defined]
    rules: list[Rule] = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        same_path = sorted(m for m in exc.valid_methods if m not in ("HEAD", "OPTIONS"))
        detail = f"no route for {method} {path}; this path accepts {', '.join(same_path)}"
        state.note(detail)
        state.nearest = [{"route": ROUTE_NAMES.get(r.endpoint) or r.endpoint, "method": m, "path": r.rule,
                          "why": f"the route takes {m}, not {method}"}
                         for r in rules if _path_matches(r, path)
                         for m in sorted((r.methods or set()) - {"HEAD", "OPTIONS"})][:5]
        response = error_response(api, 405, detail)
        response.headers["Allow"] = ", ".join(same_path)
        return response
    candidates = {f"{m} {r.rule}": (m, r) for r in rules for m in sorted(r.methods or ()) if m not in
                  ("HEAD", "OPTIONS")}
    nearest = difflib.get_close_matches(f"{method} {path}", list(candidates), n=3, cutoff=0.5)
    hint = f"; nearest: {', '.join(nearest)}" if nearest else ""
    detail = f"no route for {method} {path}{hint}"
    if api == "rivo" and "-" in path:
        detail += " (Rivo paths use snake_case, e.g. /vip_tiers)"
    state.note(detail)
    state.nearest = []
    for key in nearest:
        m, rule = candidates[key]
        state.nearest.append({"route": ROUTE_NAMES.get(rule.endpoint) or rule.endpoint, "method": m,
                              "path": rule.rule, "why": _why(rule, m, method, path)})
    return error_response(api, 404, detail if api != "shopify" else "Not Found")


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s != ""]


def _path_matches(rule: Rule, path: str) -> bool:
    want, got = _segments(rule.rule), _segments(path)
    return len(want) == len(got) and all(w.startswith("<") or w == s for w, s in zip(want, got, strict=True))


def _why(rule: Rule, rule_method: str, method: str, path: str) -> str:
    """Why ``method path`` did not match ``rule``: the method, the segment count, the first segments that differ."""
    reasons = []
    if rule_method != method:
        reasons.append(f"the route takes {rule_method}, not {method}")
    want, got = _segments(rule.rule), _segments(path)
    if len(want) != len(got):
        reasons.append(f"the path has {len(got)} segments, the route {len(want)}")
    differ = [f"segment {i + 1} is {s!r}, the route has {w!r}" for i, (w, s) in enumerate(zip(want, got, strict=False))
              if not w.startswith("<") and w != s]
    reasons += differ[:2]
    return "; ".join(reasons) or "the path differs"
