"""How the runner and the workflow client reach a simulator: in-process through ``create_app(sim)`` called as a
WSGI app, or over real HTTP against a running ``rivosim serve``. Both speak the same paths (the Rivo API and the
control API), so a scenario's steps are identical in either mode; only this adapter differs.

A call that gets no HTTP response (a read timeout, a reset, an empty reply) comes back as a :class:`Reply` with
``status`` 0 and ``error`` saying what happened, in the same words in both modes: over HTTP from the exception
``requests`` raises, in-process from the :class:`~rivosim.kernel.transport_action.TransportAction` the app left in
the environ, mapped the way ``rivosim.transports.inprocess`` maps it for ``requests`` (its table; a unit test
holds the two together).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson
import requests

from rivosim.engine import Simulator
from rivosim.http.app import create_app
from rivosim.http.control.token import control_headers
from rivosim.http.state import REQ_KEY
from rivosim.kernel.clock import parse_instant
from rivosim.kernel.transport_action import TransportAction, action_from_environ, client_meets
from rivosim.transports.wsgi import call_app, wsgi_environ

__all__ = ["DEFAULT_TIMEOUT", "DeliveryArrived", "HttpTransport", "InProcessTransport", "Reply", "Transport",
           "no_response", "reply_for_exception"]

SHOP_HEADER = "X-Rivosim-Shop"
"""Sent on every Rivo/Shopify request while a transport runs on a shop's clock: a request the server cannot tie to a
shop (a bad key) is journaled under that shop, so a scenario's journal holds its own refusals, not its neighbours'
(``rivosim.http.app``)."""

DEFAULT_TIMEOUT = 30.0
"""Seconds a call waits for its response when the caller sets no timeout (both modes)."""


class DeliveryArrived(Exception):
    """Raised by the in-process receiver, after a delivery's outcome is recorded, to stop a stepping clock."""


@dataclass(slots=True)
class Reply:
    """One call's outcome. ``error`` is set (and ``status`` is 0) when no HTTP response arrived: it reads like
    "timed out after 2 s (read timeout)", and ``timed_out`` says whether the client gave up waiting."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and 200 <= self.status < 300

    def outcome(self) -> str:
        """``-> 201``/``-> 429: Too many requests`` for a response; ``timed out after 1 s (…)`` without one."""
        if self.error is not None:
            return self.error
        return f"-> {self.status}" + ("" if self.ok else f": {self.error_detail()}")

    @property
    def json(self) -> Any:
        try:
            return orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def error_detail(self) -> str:
        """The error's human text in whichever API's shape it came (Rivo, control), else the raw body (or the
        transport error when there was no response)."""
        if self.error is not None:
            return self.error
        body = self.json
        if isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, str):
                return err
            if isinstance(err, dict) and isinstance(err.get("message"), str):
                return err["message"]
        return self.text[:300]


# -- calls that get no response ------------------------------------------------------------------------------
# The same words in both modes (the failure report and ``client_errors: {contains: …}`` quote them).
RESET = "failed: the connection was reset by the server (no response)"
CLOSED = "failed: the server closed the connection without a response"
CUT = "failed: the connection closed part-way through the response body"


def timed_out(timeout: float, what: str = "read timeout") -> str:
    return f"timed out after {timeout:g} s ({what})"


def _failed(text: str, *, timeout: bool = False) -> Reply:
    return Reply(0, b"", {}, text, timeout)


def no_response(action: TransportAction, timeout: float, body_size: int) -> tuple[Reply | None, float]:
    """What a client that waits ``timeout`` seconds meets when the server carries out ``action`` on a response of
    ``body_size`` bytes (``rivosim.kernel.transport_action.client_meets``, the table ``mock_apis`` applies too):
    ``(None, waited)`` when the response arrives, else a failed :class:`Reply`; ``waited`` is how long the client
    waited."""
    meets = client_meets(action, timeout, body_size)
    kind = meets.kind
    if kind == "response":
        return None, meets.waited
    if kind == "timed_out":
        return _failed(timed_out(timeout), timeout=True), meets.waited
    if kind == "timed_out_in_body":
        return _failed(timed_out(timeout, "read timeout while receiving the body"), timeout=True), meets.waited
    if kind == "reset":
        return _failed(RESET), meets.waited
    return _failed(CLOSED), meets.waited  # closed ("hangs_forever" needs a client without a timeout)


def reply_for_exception(exc: requests.RequestException, timeout: float) -> Reply:
    """The failed :class:`Reply` for what ``requests`` raised over a socket (the words :func:`no_response` uses)."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return _failed(timed_out(timeout, "connect timeout"), timeout=True)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return _failed(timed_out(timeout), timeout=True)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return _failed(CUT)
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "Read timed out" in text:  # urllib3 reading a dribbled body: raised as a ConnectionError
            return _failed(timed_out(timeout, "read timeout while receiving the body"), timeout=True)
        if "Connection reset" in text or "ConnectionResetError" in text:
            return _failed(RESET)
        if "RemoteDisconnected" in text or "without response" in text:
            return _failed(CLOSED)
        return _failed(f"failed: cannot connect ({text[:200]})")
    return _failed(f"failed: {type(exc).__name__}: {text[:200]}")


class Transport(Protocol):
    mode: str
    clock_shop: str | None
    """Set: ``now``/``advance_to``/``step_toward``/``run_until_idle`` are that shop's own clock alone."""

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, timeout: float | None = None) -> Reply:
        """One call; ``timeout`` (seconds, default :data:`DEFAULT_TIMEOUT`) is how long to wait for the
        response. A call without a response comes back failed (status 0, ``error``), never raises."""
        ...

    def now(self) -> datetime: ...

    def now_estimate(self) -> tuple[datetime, bool]:
        """The simulator's time without asking it (safe while it waits on us), and whether it is exact."""
        ...

    def advance_to(self, instant: datetime) -> None:
        """Move the clock to ``instant``, running what falls due on the way (``instant`` in the past: just
        run what is due now)."""
        ...

    def step_toward(self, instant: datetime) -> bool:
        """Move the clock toward ``instant`` but stop where a webhook may have been delivered, so the receiver
        can act at that simulated instant. Returns whether ``instant`` was reached."""
        ...

    def run_until_idle(self) -> None:
        """Run the simulator's queued work (deliveries and their retries)."""
        ...

    def close(self) -> None: ...


class InProcessTransport:
    """The simulator's own WSGI app, called in this thread: no sockets, no sleeping, the virtual clock.

    The app is called directly rather than through Flask's test client: the test client hands the app a copy of
    the environ, and the app's transport decision (a hang, a reset, latency) is left in that copy."""

    mode = "in-process"

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.app = create_app(sim)
        # While stepping, a delivery to the in-process receiver interrupts the clock (``DeliveryArrived``).
        self.stepping = False
        # Set: time is that shop's own clock (read, advanced and settled alone); None: the simulator's clock.
        self.clock_shop: str | None = None

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, timeout: float | None = None) -> Reply:
        path, _, query = path.partition("?")
        if params:
            extra = urlencode({k: str(v) for k, v in params.items()})
            query = f"{query}&{extra}" if query else extra
        hdrs = dict(headers or {})
        if self.clock_shop is not None and not path.startswith("/_rivosim"):
            hdrs.setdefault(SHOP_HEADER, self.clock_shop)  # as over HTTP: a refused request is journaled here
        body = b""
        if json is not None:
            body = orjson.dumps(json)
            hdrs["Content-Type"] = "application/json"
        environ = wsgi_environ(method, path, query, hdrs, body)
        status_line, header_list, body = call_app(self.app, environ)
        response_headers = dict(header_list)
        action = action_from_environ(environ)
        if action.kind != "respond" or action.delay:
            failed, waited = no_response(action, DEFAULT_TIMEOUT if timeout is None else timeout, len(body))
            if waited:
                self._waited(environ, waited)
            if failed is not None:
                return failed
        declared = response_headers.get("Content-Length", "")
        if method != "HEAD" and declared.isdigit() and int(declared) > len(body):
            return _failed(CUT)  # malformed_body: cut (Content-Length promises more than arrives)
        return Reply(int(status_line[:3]), body, response_headers)

    def _waited(self, environ: dict[str, Any], seconds: float) -> None:
        """The client waited ``seconds`` for the request's shop: a virtual clock already moved in the app (by the
        latency); a wall clock's offset moves here, the shop's alone (a request no shop owns moves no clock)."""
        state = environ.get(REQ_KEY)
        shop = getattr(state, "shop", None)
        if shop is not None and shop.clock.kind == "wall" and self.sim.shops.get(shop.domain) is shop:
            self.sim.advance_shop(shop.domain, seconds)

    def now(self) -> datetime:
        if self.clock_shop is not None:
            return self.sim.shop(self.clock_shop).clock.now()
        return self.sim.now()

    def now_estimate(self) -> tuple[datetime, bool]:
        return self.now(), True

    # Time is moved on the simulator itself, not through ``POST /_rivosim/clock/advance``: a request per step
    # would cost more than the step.
    def advance_to(self, instant: datetime) -> None:
        gap = instant - self.now()
        if self.clock_shop is not None:
            self.sim.advance_shop(self.clock_shop, gap if gap.total_seconds() > 0 else 0)
        else:
            self.sim.advance(gap if gap.total_seconds() > 0 else 0)

    def run_until_idle(self) -> None:
        self.sim.run_until_idle(shop=self.clock_shop)

    def step_toward(self, instant: datetime) -> bool:
        # One ``advance`` runs a year of daily ticks in the clock's own loop; the in-process receiver raises
        # ``DeliveryArrived`` after recording a delivery's outcome, which unwinds the clock at that instant
        # (its heap intact, time not moved past the delivery). Cheaper than stepping timer by timer.
        self.stepping = True
        try:
            self.advance_to(instant)
            return True
        except DeliveryArrived:
            return False
        finally:
            self.stepping = False

    def close(self) -> None:
        pass


class HttpTransport:
    """A running server at ``base_url`` (``http://127.0.0.1:8282``). Thread-safe: each thread has its own
    session (the webhook receiver asks for the time from its own threads)."""

    mode = "http"

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT, control_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # Sent on control API requests only (the Rivo API's Authorization header is the shop's key).
        self._control = control_headers(control_token)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        # The last clock reading: (server time, local time.time() when read, clock kind).
        self._clock: tuple[datetime, float, str] | None = None
        # Set: time is that shop's own clock (``/_rivosim/shops/<domain>/clock…``); None: the server's clock.
        self._clock_shop: str | None = None

    @property
    def clock_shop(self) -> str | None:
        return self._clock_shop

    @clock_shop.setter
    def clock_shop(self, domain: str | None) -> None:
        if domain != self._clock_shop:
            self._clock_shop, self._clock = domain, None  # the last reading was another clock's

    def _clock_path(self) -> str:
        return "/_rivosim/clock" if self._clock_shop is None else f"/_rivosim/shops/{self._clock_shop}/clock"

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, timeout: float | None = None) -> Reply:
        hdrs = dict(headers or {})
        if path.startswith("/_rivosim"):
            if self._control:
                hdrs = {**self._control, **hdrs}
        elif self._clock_shop is not None:
            hdrs.setdefault(SHOP_HEADER, self._clock_shop)  # a refused request is journaled under our shop
        data = None
        if json is not None:
            data = orjson.dumps(json)
            hdrs["Content-Type"] = "application/json"
        wait = self.timeout if timeout is None else timeout
        # Paths are sent as given (already percent-encoded where needed), like the in-process environ has them.
        try:
            response = self._session().request(method, self.base_url + path, params=params, data=data,
                                               headers=hdrs, timeout=wait, allow_redirects=False)
        except requests.RequestException as exc:
            return reply_for_exception(exc, wait)
        reply = Reply(response.status_code, response.content, dict(response.headers))
        if reply.status == 200 and path.startswith((self._clock_path(), "/_rivosim/run_until_idle")):
            body = reply.json
            # Only a reading of the clock in use: ``run_until_idle`` answers with the server's clock, which is
            # not a shop's (a shop's clock answers name their shop).
            if isinstance(body, dict) and "now" in body and body.get("shop") == self._clock_shop:
                self._clock = (parse_instant(body["now"]), time.time(), str(body.get("kind", "wall")))
        return reply

    def now(self) -> datetime:
        path = self._clock_path()
        reply = self.request("GET", path)
        if reply.status != 200:
            raise ConnectionError(f"GET {path} {reply.outcome()}: is {self.base_url} a rivosim server?")
        return parse_instant(reply.json["now"])

    def advance_to(self, instant: datetime) -> None:
        self._advance(instant)

    def _advance(self, instant: datetime, **options: Any) -> Any:
        """``POST /_rivosim/clock/advance`` (or the clock shop's) by the gap to ``instant``; the server's answer."""
        now, exact = self.now_estimate()
        if not exact:
            now = self.now()
        seconds = max(0.0, round((instant - now).total_seconds(), 6))
        path = self._clock_path() + "/advance"
        reply = self.request("POST", path, json={"seconds": seconds, **options})
        if reply.status != 200:
            raise ConnectionError(f"POST {path} {reply.outcome()}")
        return reply.json

    def run_until_idle(self) -> None:
        reply = self.request("POST", "/_rivosim/run_until_idle",
                             json=None if self._clock_shop is None else {"shop": self._clock_shop})
        if reply.status != 200:
            raise ConnectionError(f"POST /_rivosim/run_until_idle {reply.outcome()}")

    def step_toward(self, instant: datetime) -> bool:
        # The server stops the advance right after a webhook delivery on the way (once it is made, so our
        # receiver has it) and says so: one request per delivery, not one per timer (a daily tick a day).
        body = self._advance(instant, stop_on_delivery=True)
        return not (isinstance(body, dict) and body.get("stopped_on_delivery"))

    def now_estimate(self) -> tuple[datetime, bool]:
        """A wall-clock server's time is ours plus the offset last seen (only ``advance`` changes it); a
        virtual clock's may have moved on since (retries inside ``run_until_idle``), so it is not exact."""
        if self._clock is None:
            return datetime.now(UTC), False
        seen, local, kind = self._clock
        if kind == "wall":
            return seen + timedelta(seconds=time.time() - local), True
        return seen, False

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
