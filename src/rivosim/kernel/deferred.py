"""The deferred-answer contract between the app and a transport that can wait without holding a thread.

Some answers must wait for work outside the request: ``POST /_rivosim/clock/advance`` with ``stop_on_delivery``
answers once the webhook delivery it stopped at has been made, so the caller's receiver has it. Waiting inside
the request would hold the server shell's one event-loop thread (and the simulator's lock) for as long as a slow
receiver takes, stalling every other client. So:

- a transport that can wait without blocking (the server shell) puts ``environ[CAN_DEFER_KEY] = True``;
- the app, seeing it, does not wait: it leaves a :class:`Deferral` in ``environ[DEFERRED_KEY]`` and returns a
  response whose body is produced lazily (a generator);
- the transport calls ``deferral.ready()`` every ``poll_interval`` seconds on its own thread, serving other
  connections in between, and once it is true reads the body and sends the answer.

Any other transport (in-process mode, another WSGI server) sets nothing, and the app waits inline as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CAN_DEFER_KEY", "DEFERRED_KEY", "Deferral", "deferral_from_environ"]

CAN_DEFER_KEY = "rivosim.can_defer"
"""WSGI environ key a transport sets (to True) when it can answer later without blocking (see above)."""

DEFERRED_KEY = "rivosim.deferred"
"""WSGI environ key under which the app leaves its :class:`Deferral`."""


@dataclass(frozen=True, slots=True)
class Deferral:
    """Send the response once ``ready()`` is true. ``ready`` must never block: it makes what progress it can (it
    may apply finished work) and says whether the answer may go; it owns the time limit too (it answers True once
    waiting longer is pointless). Exceptions from it end the wait (the transport reports them and answers)."""

    ready: Callable[[], bool]
    poll_interval: float = 0.01


def deferral_from_environ(environ: dict[str, object]) -> Deferral | None:
    """The deferral the app left in ``environ``, or None."""
    deferral = environ.get(DEFERRED_KEY)
    return deferral if isinstance(deferral, Deferral) else None
