"""What the pipeline knows about one request: :class:`RequestState`, the one per-request object every stage reads
and writes (gates, views, fault stage, journal), and :func:`current_req`, how code inside a request reaches it;
the :class:`RouteSpec` of the route it matched (``routing.py`` declares routes).

The app (``app.py``) makes the state when a request arrives and makes it current for the request's duration with
a context variable of its own, so nothing here reads Flask's private context stacks.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from flask import Request
    from werkzeug.wrappers import Response

    from rivosim.domain.shop import Shop
    from rivosim.engine import Simulator
    from rivosim.faults.fault_set import Decision
    from rivosim.http.lag import Pending
    from rivosim.kernel.clock import Clock

__all__ = ["CURRENT", "REQ_KEY", "Finish", "Gate", "RequestState", "RouteSpec", "current_req", "request_shop"]

REQ_KEY = "rivosim.req"
"""WSGI environ key of the request's :class:`RequestState` (transports and tests may read it)."""

Gate = Callable[["RequestState"], "Response | None"]
"""One stage before the view (tenant + auth, a rate limit, ...): answer (a refusal) or return None to go on. A gate
may also raise a ``SimError``; it becomes the API's error shape."""

Finish = Callable[["RequestState", "Response"], "Response"]
"""What an API adds to every response of its routes (Shopify: version, call-limit and request-id headers)."""


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One route of the app: its stable name, HTTP method, URL rule (Flask syntax, prefix included), API
    (``rivo``, ``shopify``, ``control``) and Flask endpoint; the Shopify access scope it needs; other rules that
    serve the same route (Shopify's version-less ``/admin/…`` form)."""

    name: str
    method: str
    rule: str
    api: str
    endpoint: str
    scope: str | None = None
    aliases: tuple[str, ...] = ()


class RequestState:
    """What the pipeline knows about one request; the journal entry is made from it."""

    __slots__ = (
        "_shop",
        "_shop_clock",
        "api",
        "at",
        "call_limit",
        "decision",
        "error",
        "finish",
        "lag",
        "limit",
        "nearest",
        "notes",
        "request",
        "route",
        "sim",
        "spec",
        "t0",
        "version",
        "view_status",
    )

    def __init__(self, sim: Simulator, t0: float, at: datetime, api: str) -> None:
        self.sim = sim
        self.t0 = t0
        self.at = at  # simulator time on arrival: rate limits, fault windows, lag and the journal use it
        self.api = api
        self.request: Request | None = None  # set when Flask makes the request object (``ApiRequest``)
        self.spec: RouteSpec | None = None  # the matched route (None: no route matched)
        self.route: str | None = None  # its stable name (``rivo.customers.get``)
        self.finish: Finish | None = None
        self._shop: Shop | None = None
        self._shop_clock: Clock | None = None
        self.decision: Decision | None = None
        self.limit: str | None = None
        self.notes: list[str] | None = None
        self.nearest: list[dict[str, str]] | None = None
        self.error: str | None = None
        self.lag: Pending | None = None
        self.view_status: int | None = None  # what the view answered, when a fault replaced its response
        self.version: str | None = None  # the API version that serves the request (Shopify: ``2024-07``)
        self.call_limit: str | None = None  # Shopify's ``X-Shopify-Shop-Api-Call-Limit`` value

    @property
    def shop(self) -> Shop | None:
        return self._shop

    @shop.setter
    def shop(self, shop: Shop | None) -> None:
        """The shop the request is about. Known, its own clock gives the request's instant from then on (held
        until the request ends, see Clock.hold): rate limits, lag, answers and the journal run on its time."""
        self._shop = shop
        if shop is not None and self._shop_clock is None:
            self._shop_clock = shop.clock
            self.at = shop.clock.hold()

    def forget_shop(self, at: datetime) -> None:
        """Undo ``shop = ...``: release the shop's clock, the request's instant back to ``at`` (a stage that looked
        at the request and gave it back, ``http/rivo/fast.py``)."""
        self.release_shop_clock()
        self._shop = None
        self.at = at

    def release_shop_clock(self) -> None:
        if self._shop_clock is not None:
            self._shop_clock.release()
            self._shop_clock = None

    def note(self, text: str) -> None:
        """Add a note for the journal (once: a note already there is not repeated)."""
        notes = self.notes
        if notes is None:
            self.notes = [text]
        elif text not in notes:
            notes.append(text)


CURRENT: ContextVar[RequestState] = ContextVar("rivosim_request_state")
"""The request being served; the app sets it around each request (``RivosimFlask.wsgi_app``)."""


def current_req() -> RequestState:
    """The current request's :class:`RequestState` (inside a request of ``create_app``'s app)."""
    return CURRENT.get()


def request_shop(sim: Simulator, state: RequestState, environ: dict[str, Any]) -> str | None:
    """The shop a request is journaled under: its own, else (a Rivo or Shopify request that names none, such as a
    bad key) the existing shop its ``X-Rivosim-Shop`` header names, if any. A test harness sends that header so
    that on a server shared by many tests it finds its own refused requests in the journal and not its
    neighbours' (the scenario runner does)."""
    if state.shop is not None:
        return state.shop.domain
    claimed = environ.get("HTTP_X_RIVOSIM_SHOP")
    return claimed if claimed is not None and state.api != "control" and claimed in sim.shops else None
