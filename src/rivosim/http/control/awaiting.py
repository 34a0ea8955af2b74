"""Control answers that wait for webhook deliveries in flight (``clock/advance`` with ``stop_on_delivery``,
``run_until_idle``) without stalling the server: on the server shell they are deferred (see
:mod:`rivosim.kernel.deferred`): the shell polls on loop timers and keeps serving every other client while a
slow receiver takes its time. Elsewhere (in-process mode, another WSGI server) the request waits inline.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from rivosim.engine import Simulator
from rivosim.http.errors import dumps, json_response
from rivosim.kernel.deferred import CAN_DEFER_KEY, DEFERRED_KEY, Deferral

__all__ = ["MAX_WAIT", "answer_once_delivered", "can_defer"]

MAX_WAIT = 30.0
"""Seconds without any delivery finishing after which the answer goes anyway (as ``Simulator.advance``'s
``max_wait``: a receiver slower than its own timeout is the delivery's failure, not the caller's)."""


def can_defer() -> bool:
    """Whether this request's transport can wait for deliveries without blocking (the server shell)."""
    return bool(request.environ.get(CAN_DEFER_KEY))


def answer_once_delivered(sim: Simulator, build: Callable[[], Any], *,
                          step: Callable[[], None] | None = None) -> Response:
    """``build()`` as JSON once no webhook delivery is in flight. ``step()`` (optional) runs whenever a drain
    leaves none in flight, and may start more (``run_until_idle`` runs the clock on to the next retries).

    The caller has already done its work without waiting (``max_wait=0``); on a transport that cannot defer it
    should wait inline instead, and then this answers at once."""
    if not can_defer() or sim.outbox.in_flight == 0:
        return json_response(build())
    progress = [sim.outbox.in_flight, time.monotonic()]
    # ``build`` and ``step`` run after the request returned, in its context (they may read the request's state).
    context = contextvars.copy_context()

    def progressed() -> bool:
        with sim.lock:
            sim.outbox.drain()
            outbox = sim.outbox
            if outbox.in_flight == 0 and step is not None:
                step()
            now = time.monotonic()
            if outbox.in_flight != progress[0]:
                progress[0], progress[1] = outbox.in_flight, now
            return outbox.in_flight == 0 or now - progress[1] > MAX_WAIT

    def body() -> Iterator[bytes]:
        with sim.lock:
            yield context.run(lambda: dumps(build()))

    request.environ[DEFERRED_KEY] = Deferral(lambda: context.run(progressed))
    return Response(body(), status=200, content_type="application/json")
