"""Senders carry one delivery attempt over real HTTP (``requests``) and report the outcome.

- ``BlockingSender`` sends inline: right for a virtual clock, where ``advance``/``run_until_idle`` flush
  deliveries deterministically (and in-process mode intercepts the POST when the subscriber is mocked too).
- ``ThreadedSender`` sends from a small thread pool and queues the outcome, so a server on a wall clock never
  blocks its event loop on a slow subscriber; the outbox applies queued outcomes under the simulator lock.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import requests

__all__ = ["AttemptResult", "BlockingSender", "OutgoingRequest", "Sender", "ThreadedSender"]


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    url: str
    body: bytes
    headers: dict[str, str]
    timeout: float
    connect_timeout: float = 1.0


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
    """Sends on worker threads; outcomes wait in ``results`` until the outbox drains them."""

    def __init__(self, workers: int = 8) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rivosim-webhook")
        self._local = threading.local()
        self.results: queue.Queue[tuple[Done, AttemptResult]] = queue.Queue()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = _new_session()
        return session

    def send(self, request: OutgoingRequest, done: Done) -> None:
        def work() -> None:
            self.results.put((done, _post(self._session(), request)))

        self._pool.submit(work)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
