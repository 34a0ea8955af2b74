"""The fast read: ``GET /merchant_api/v1/customers/<id>`` answered without a Flask request, when nothing but the
plain pipeline could apply to it.

Why: it is the read clients repeat most (polling a balance), and its view costs a dictionary lookup and a cached
shape (``shapes.py``) while Flask's request around it — contexts, routing, the request and response objects —
costs several times that. In-process (``mock_apis``, the httpx and aiohttp transports) that is most of a call.

It is the same pipeline, not a second one: it takes a request only when the full path would provably do exactly
what it does, and otherwise returns None having changed nothing, and the request goes through Flask as usual.
It takes a request when

- it is a GET without a body, its path is ``/merchant_api/v1/customers/`` and ASCII digits (a customer id: no
  other route has such a path), ``SCRIPT_NAME`` is empty and its Host was already seen (checked) by the full path;
- the simulator has no fault rule at all (no decision, no random draw), no read-after-write lag pending, and the
  shop no new customer still hidden from Rivo;
- the Rivo routes' gates are exactly :func:`authenticate` and :func:`rate_limit` (nothing added with
  ``add_gate``), the shop's Rivo rate limit is off, its service-time model is off, and :func:`admitted_shop` says
  :func:`authenticate` admits the key;
- no Flask hook (before/after/teardown functions, URL value preprocessors) and no receiver of the signals Flask
  sends on every request is registered: nothing Flask would call.

Then it does what the full path does, in the same order: ``state.shop`` (the shop's clock held), the route,
``find_member`` (a refusal gives the request back to Flask, the shop forgotten), the same body
(:func:`customer_body`), status and headers (those ``LeanResponse`` sends), and the same journal entry
(:meth:`RivosimFlask.journal`). ``tests/contract/test_rivo_fast_read.py`` runs random request sequences with and
without it and compares answers, journals, state and deliveries byte for byte.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import signals

from rivosim.http.rivo.common import PREFIX
from rivosim.http.rivo.customers import customer_body
from rivosim.http.rivo.gates import admitted_shop, authenticate, rate_limit

if TYPE_CHECKING:
    from rivosim.http.state import RequestState

__all__ = ["FastCustomerRead"]

ROUTE = "rivo.customers.get"
_PATH = f"{PREFIX}/customers/"
# What Flask sends on every request (got_request_exception only for an exception, which the fast read leaves to
# Flask: test tools listen to it).
_SIGNALS = (signals.request_started, signals.request_finished, signals.request_tearing_down,
            signals.appcontext_pushed, signals.appcontext_popped, signals.appcontext_tearing_down)


class FastCustomerRead:
    """``app.fast_reads`` for the Rivo GET customer route (module docstring)."""

    def __init__(self, app: Any) -> None:  # the RivosimFlask that made it (http/app.py imports this module)
        self.app = app
        self.sim = app.sim
        self._plain: bool | None = None  # no Flask hook registered (known once the app has served a request)
        self.served = 0

    def _no_flask_hooks(self) -> bool:
        if self._plain is None:
            # Flask refuses new hooks once the app has served a request, and a Host is known only after one.
            app = self.app
            self._plain = not app.teardown_appcontext_funcs and not any(any(funcs.values()) for funcs in (
                app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs,
                app.url_value_preprocessors))
        return self._plain and not any(signal.receivers for signal in _SIGNALS)

    def __call__(self, state: RequestState, environ: dict[str, Any], start_response: Any) -> list[bytes] | None:
        path = environ.get("PATH_INFO", "")
        identifier = path[len(_PATH):] if path.startswith(_PATH) else ""
        if not (identifier.isdigit() and identifier.isascii()) or environ.get("SCRIPT_NAME"):
            return None
        sim, app = self.sim, self.app
        if sim.faults.rules or sim.lag or environ.get("HTTP_HOST") not in app.server_names:
            return None
        config = app.config
        if config["TRUSTED_HOSTS"] is not None or config["SERVER_NAME"] is not None:
            return None
        plan = app.plan_of(ROUTE)
        if plan is None or plan.gates != (authenticate, rate_limit) or plan.finish is not None:
            return None
        shop = admitted_shop(sim, environ)
        if shop is None:
            return None
        settings = shop.settings
        if (settings.rate_limits.rivo.enabled or settings.service_time.enabled or shop.rivo.member_book.hidden_until
                or not self._no_flask_hooks()):
            return None
        at = state.at
        state.shop = shop  # as authenticate does: the shop's clock gives the request's instant from here
        state.spec, state.route = plan.spec, ROUTE
        try:
            body = customer_body(app, shop, shop.rivo.find_member(identifier))
        except Exception:
            state.forget_shop(at)  # a refusal (or a bug): Flask's path answers it, from the start
            state.spec = state.route = None
            return None
        environ["werkzeug.request"] = None  # what Flask leaves there after a request
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        app.journal(state, environ, None, None, None, 200)
        self.served += 1
        return [body]
