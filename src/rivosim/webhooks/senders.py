"""Senders carry one delivery attempt over real HTTP (``requests``) and report the outcome.

- ``BlockingSender`` sends inline: right for a virtual clock in-process, where ``advance``/``run_until_idle``
  flush deliveries deterministically (and in-process mode intercepts the POST when the subscriber is mocked too).
- ``ThreadedSender`` sends from worker threads and queues the outcome, so a server never blocks its event loop
  on a subscriber (``rivosim serve`` uses it on either clock); the outbox applies queued outcomes under the
  simulator lock. It keeps **one bounded queue per shop** and hands work to its threads **round-robin across
  shops**, with at most ``per_shop`` sends of one shop in flight: a dead or black-hole receiver ties up at most
  that many threads and delays only its own shop's deliveries.

Every send first asks ``OutgoingRequest.refuse`` (when set) whether the URL may be reached at all: a delivery
aimed at the simulator's own listening address fails as ``refused`` without a connection (``self_target.py``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import requests

__all__ = ["AttemptResult", "BlockingSender", "OutgoingRequest", "Sender", "ThreadedSender"]

log = logging.getLogger("rivosim.webhooks")


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    url: str
    body: bytes
    headers: dict[str, str]
    timeout: float
    connect_timeout: float = 1.0
    shop: str = ""  # whose queue the send waits in (ThreadedSender's fairness)
    refuse: Callable[[str], str | None] | None = None  # why the URL must not be reached, or None


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


Done = Callable[[AttemptResult], None]


class Sender(Protocol):
    def send(self, request: OutgoingRequest, done: Done) -> None: ...

    def close(self) -> None: ...


def _new_session() -> requests.Session:
    # requests is imported on the first delivery, not at start-up (~65 ms a server start need not pay).
    import requests

    return requests.Session()


def _post(session: requests.Session, request: OutgoingRequest) -> AttemptResult:
    import requests

    started = time.perf_counter()
    if request.refuse is not None:
        reason = request.refuse(request.url)
        if reason is not None:
            return AttemptResult(None, f"refused: {reason}", (time.perf_counter() - started) * 1000)
    try:
        response = session.post(request.url, data=request.body, headers=request.headers,
                                timeout=(request.connect_timeout, request.timeout), allow_redirects=False)
        response.close()
        return AttemptResult(response.status_code, None, (time.perf_counter() - started) * 1000)
    except requests.RequestException as exc:
        return AttemptResult(None, f"{type(exc).__name__}: {exc}", (time.perf_counter() - started) * 1000)


class BlockingSender:
    def __init__(self) -> None:
        self._session: requests.Session | None = None

    def send(self, request: OutgoingRequest, done: Done) -> None:
        if self._session is None:
            self._session = _new_session()
        done(_post(self._session, request))

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


class ThreadedSender:
    """Sends on ``workers`` threads, fairly across shops; outcomes wait in ``results`` until the outbox drains
    them. ``per_shop``: sends of one shop in flight at once; ``queue_cap``: sends one shop may have waiting
    (beyond it an attempt fails at once as ``refused: queue full`` and is retried on the outbox's schedule)."""

    def __init__(self, workers: int = 8, *, per_shop: int = 2, queue_cap: int = 10_000) -> None:
        self.workers = workers
        self.per_shop = max(1, min(per_shop, workers))
        self.queue_cap = queue_cap
        self.results: queue.Queue[tuple[Done, AttemptResult]] = queue.Queue()
        self._cond = threading.Condition()
        self._queues: dict[str, deque[tuple[OutgoingRequest, Done]]] = {}
        self._busy: dict[str, int] = {}  # shop -> sends in flight
        self._ready: deque[str] = deque()  # shops with waiting work and a free slot, in turn order
        self._in_ready: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = _new_session()
        return session

    def send(self, request: OutgoingRequest, done: Done) -> None:
        with self._cond:
            if self._closed:
                return
            waiting = self._queues.get(request.shop)
            if waiting is None:
                waiting = self._queues[request.shop] = deque()
            if len(waiting) >= self.queue_cap:
                self.results.put((done, AttemptResult(None, f"refused: the shop's send queue is full "
                                                            f"({self.queue_cap} waiting)", 0.0)))
                return
            waiting.append((request, done))
            self._offer(request.shop)
            if len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, name=f"rivosim-webhook-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
            self._cond.notify()

    def _offer(self, shop: str) -> None:
        """Put ``shop`` in line if it has waiting work and a free slot (caller holds the condition)."""
        if shop not in self._in_ready and self._queues.get(shop) and self._busy.get(shop, 0) < self.per_shop:
            self._ready.append(shop)
            self._in_ready.add(shop)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._ready and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                shop = self._ready.popleft()
                self._in_ready.discard(shop)
                waiting = self._queues[shop]
                request, done = waiting.popleft()
                if not waiting:
                    del self._queues[shop]
                self._busy[shop] = self._busy.get(shop, 0) + 1
                self._offer(shop)  # the shop goes to the back of the line: round-robin across shops
            try:
                result = _post(self._session(), request)
            except Exception as exc:  # never lose a worker (or an outcome) to a bug
                result = AttemptResult(None, f"{type(exc).__name__}: {exc}", 0.0)
            with self._cond:
                left = self._busy[shop] - 1
                if left:
                    self._busy[shop] = left
                else:
                    del self._busy[shop]
                closed = self._closed
                if not closed:
                    self._offer(shop)
                    self._cond.notify()
            if closed:
                return
            self.results.put((done, result))

    @property
    def waiting(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    def close(self) -> int:
        """Stop: nothing more is sent. Returns how many sends were abandoned (waiting or in flight)."""
        with self._cond:
            abandoned = sum(len(q) for q in self._queues.values()) + sum(self._busy.values())
            self._closed = True
            self._queues.clear()
            self._ready.clear()
            self._in_ready.clear()
            self._cond.notify_all()
        return abandoned
