"""``create_app(sim)``: the one WSGI app every transport serves (server shell, in-process mode, scenarios).

Request pipeline: size check → route match → tenant + auth (per API) → view → journal. Domain refusals become
each API's error shape; an unexpected exception is a simulator bug: 500 with ``X-Rivosim-Bug: 1``, recorded in
``sim.bugs`` and the journal. Unmatched requests get a 404 that names the nearest routes.
"""

from __future__ import annotations

import difflib
import time
from typing import Any

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from ..engine import Simulator
from ..errors import SimError
from .errors import api_of_path, error_response, sim_error_response

__all__ = ["ROUTE_NAMES", "create_app", "route_name"]

ROUTE_NAMES: dict[str, str] = {}
"""Flask endpoint -> stable route name (``rivo.customers.get``). Filled as blueprints declare routes."""

MAX_BODY_BYTES = 16 * 1024 * 1024


def route_name(endpoint: str | None) -> str | None:
    return ROUTE_NAMES.get(endpoint or "")


class RivosimFlask(Flask):
    sim: Simulator

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:  # type: ignore[override]
        # The domain is single-threaded: one request at a time touches it (cheap when uncontended).
        with self.sim.lock:
            return super().wsgi_app(environ, start_response)


def create_app(sim: Simulator) -> Flask:
    from . import control, control_webhooks, rivo  # blueprints register their route names on import

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

    @app.before_request
    def _start() -> Response | None:
        g.t0 = time.perf_counter()
        g.api = api_of_path(request.path)
        g.shop = None
        g.fault = None
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            return error_response(g.api, 413, f"the request body is {length} bytes; the limit is {MAX_BODY_BYTES}")
        return None

    # An exception inside an error handler would escape every handler (Flask answers a bare HTML 500 and
    # nothing is recorded), so the handlers that build bodies from request data fall back to ``_bug``.
    @app.errorhandler(SimError)
    def _sim_error(exc: SimError) -> Response:
        try:
            return sim_error_response(getattr(g, "api", api_of_path(request.path)), exc)
        except Exception as failure:
            return _bug(failure)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        try:
            api = getattr(g, "api", api_of_path(request.path))
            if isinstance(exc, NotFound | MethodNotAllowed):
                return _unmatched(app, api, exc)
            return error_response(api, exc.code or 400, exc.description or exc.name)
        except Exception as failure:
            return _bug(failure)

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> Response:
        sim.record_bug(exc, f"{request.method} {request.path}")
        api = getattr(g, "api", api_of_path(request.path))
        response = error_response(api, 500, f"rivosim bug: {type(exc).__name__}: {exc}")
        response.headers["X-Rivosim-Bug"] = "1"
        g.error = f"{type(exc).__name__}: {exc}"
        return response

    @app.after_request
    def _journal(response: Response) -> Response:
        started = getattr(g, "t0", None)
        shop = getattr(g, "shop", None)
        body = None
        if request.method in ("POST", "PUT", "PATCH") and request.mimetype and "json" in request.mimetype:
            body = request.get_json(silent=True)
        elif request.method in ("POST", "PUT", "PATCH") and request.form:
            body = request.form.to_dict()
        sim.journal.record(
            at=sim.now(), shop=shop.domain if shop is not None else None, api=getattr(g, "api", "unmatched"),
            route=route_name(request.endpoint), method=request.method, path=request.path,
            query=request.query_string.decode("latin-1"), status=response.status_code,
            duration_ms=(time.perf_counter() - started) * 1000 if started else 0.0, request_json=body,
            fault=getattr(g, "fault", None), error=getattr(g, "error", None),
            notes=list(getattr(g, "notes", ())),
        )
        return response

    return app


def _unmatched(app: Flask, api: str, exc: HTTPException) -> Response:
    """404/405 that explains itself: which routes are nearest, and for a wrong method which methods exist."""
    method, path = request.method, request.path
    rules: list[Rule] = list(app.url_map.iter_rules())
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        same_path = sorted(m for m in exc.valid_methods if m not in ("HEAD", "OPTIONS"))
        detail = f"no route for {method} {path}; this path accepts {', '.join(same_path)}"
        g.notes = [detail]
        response = error_response(api, 405, detail)
        response.headers["Allow"] = ", ".join(same_path)
        return response
    candidates = {f"{m} {r.rule}": r for r in rules for m in (r.methods or ()) if m not in ("HEAD", "OPTIONS")}
    nearest = difflib.get_close_matches(f"{method} {path}", list(candidates), n=3, cutoff=0.5)
    hint = f"; nearest: {', '.join(nearest)}" if nearest else ""
    detail = f"no route for {method} {path}{hint}"
    if api == "rivo" and "-" in path:
        detail += " (Rivo paths use snake_case, e.g. /vip_tiers)"
    g.notes = [detail]
    return error_response(api, 404, detail if api != "shopify" else "Not Found")

