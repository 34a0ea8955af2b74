"""How the runner and the workflow client reach a simulator: in-process through ``create_app(sim)``'s test
client, or over real HTTP against a running ``rivosim serve``. Both speak the same paths (the Rivo API and the
control API), so a scenario's steps are identical in either mode; only this adapter differs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
import requests

from ..clock import parse_instant
from ..engine import Simulator
from ..http.app import create_app

__all__ = ["DeliveryArrived", "HttpTransport", "InProcessTransport", "Reply", "Transport"]


class DeliveryArrived(Exception):
    """Raised by the in-process receiver, after a delivery's outcome is recorded, to stop a stepping clock."""


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

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
        """The error's human text in whichever API's shape it came (Rivo, control), else the raw body."""
        body = self.json
        if isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, str):
                return err
            if isinstance(err, dict) and isinstance(err.get("message"), str):
                return err["message"]
        return self.text[:300]


class Transport(Protocol):
    mode: str

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None) -> Reply: ...

    def now(self) -> datetime: ...

    def now_estimate(self) -> tuple[datetime, bool]:
        """The simulator's time without asking it (safe while it waits on us), and whether it is exact."""
        ...

    def next_due(self) -> datetime | None:
        """When the simulator's next timer (a delivery, a daily tick, an expiry) is due."""
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
    """The simulator's own WSGI app, called in this thread: no sockets, no sleeping, the virtual clock."""

    mode = "in-process"

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.client = create_app(sim).test_client()
        # While stepping, a delivery to the in-process receiver interrupts the clock (``DeliveryArrived``).
        self.stepping = False

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None) -> Reply:
        kwargs: dict[str, Any] = {"method": method, "headers": dict(headers or {})}
        if params:
            kwargs["query_string"] = {k: str(v) for k, v in params.items()}
        if json is not None:
            kwargs["data"] = orjson.dumps(json)
            kwargs["content_type"] = "application/json"
        response = self.client.open(path, **kwargs)
        return Reply(response.status_code, response.get_data(), dict(response.headers))

    def now(self) -> datetime:
        return self.sim.now()

    def now_estimate(self) -> tuple[datetime, bool]:
        return self.sim.now(), True

    # Time is moved on the simulator itself, not through ``POST /_rivosim/clock/advance``: the runner steps
    # from timer to timer so workflows act at the instant their trigger fired, and a request per step would
    # cost more than the step.
    def next_due(self) -> datetime | None:
        return self.sim.clock.next_due()

    def advance_to(self, instant: datetime) -> None:
        gap = instant - self.sim.now()
        self.sim.advance(gap if gap.total_seconds() > 0 else 0)

    def run_until_idle(self) -> None:
        self.sim.run_until_idle()

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

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        # The last clock reading: (server time, local time.time() when read, clock kind), and its next_due.
        self._clock: tuple[datetime, float, str] | None = None
        self._next_due: tuple[datetime | None] | None = None

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None) -> Reply:
        hdrs = dict(headers or {})
        data = None
        if json is not None:
            data = orjson.dumps(json)
            hdrs["Content-Type"] = "application/json"
        # Paths are sent as given (already percent-encoded where needed), like the test client does.
        response = self._session().request(method, self.base_url + path, params=params, data=data, headers=hdrs,
                                           timeout=self.timeout, allow_redirects=False)
        reply = Reply(response.status_code, response.content, dict(response.headers))
        if reply.status == 200 and path.startswith(("/_rivosim/clock", "/_rivosim/run_until_idle")):
            body = reply.json
            if isinstance(body, dict) and "now" in body:
                self._clock = (parse_instant(body["now"]), time.time(), str(body.get("kind", "wall")))
                due = body.get("next_due")
                self._next_due = (parse_instant(due) if due else None,) if "next_due" in body else None
        elif method != "GET":
            self._next_due = None  # anything may have scheduled work
        return reply

    def now(self) -> datetime:
        reply = self.request("GET", "/_rivosim/clock")
        if reply.status != 200:
            raise ConnectionError(f"GET /_rivosim/clock -> {reply.status}: is {self.base_url} a rivosim server?")
        return parse_instant(reply.json["now"])

    def next_due(self) -> datetime | None:
        # The last clock reply (an advance answers with next_due) is current unless something was written since.
        if self._next_due is not None:
            return self._next_due[0]
        reply = self.request("GET", "/_rivosim/clock")
        due = reply.json.get("next_due") if reply.status == 200 else None
        return parse_instant(due) if due else None

    def advance_to(self, instant: datetime) -> None:
        now, exact = self.now_estimate()
        if not exact:
            now = self.now()
        seconds = max(0.0, round((instant - now).total_seconds(), 6))
        reply = self.request("POST", "/_rivosim/clock/advance", json={"seconds": seconds})
        if reply.status != 200:
            raise ConnectionError(f"POST /_rivosim/clock/advance -> {reply.status}: {reply.text[:200]}")

    def run_until_idle(self) -> None:
        reply = self.request("POST", "/_rivosim/run_until_idle")
        if reply.status != 200:
            raise ConnectionError(f"POST /_rivosim/run_until_idle -> {reply.status}: {reply.text[:200]}")

    def step_toward(self, instant: datetime) -> bool:
        # Over HTTP the clock cannot be interrupted: step from one due timer to the next (each answer carries
        # the next due time).
        due = self.next_due()
        stop = instant if due is None or due >= instant else due
        self.advance_to(stop)
        return stop >= instant

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
