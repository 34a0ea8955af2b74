"""The transport-action contract between the request pipeline and whatever carries bytes (server shell or
in-process mode).

The pipeline *decides* what the client experiences; a transport only *carries it out*. The WSGI app stores its
decision in ``environ[ENVIRON_KEY]`` before returning. A transport that finds no action there simply responds.

- The server shell (``rivosim.transports.server``) carries out each action on its event loop without holding a thread:
  waiting is a timer, hanging is a parked connection, a reset is an aborted socket.
- In-process mode (``rivosim.transports.inprocess``) maps the same actions to the exceptions ``requests``, ``httpx``
  and ``aiohttp`` raise and advances the virtual clock instead of sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

ENVIRON_KEY = "rivosim.transport"
"""WSGI environ key under which the app leaves its :class:`TransportAction` for the transport."""

ActionKind = Literal["respond", "hang", "reset", "empty_reply", "dribble"]


@dataclass(frozen=True, slots=True)
class TransportAction:
    """What the transport does with a response the app produced.

    ``delay`` seconds pass first (latency); then ``kind`` decides:

    - ``respond``: send the response normally.
    - ``hang``: send nothing; close the connection after ``hang_seconds`` (``None``: keep it open until the
      client goes away or the server stops). The client sees a read timeout.
    - ``reset``: abort the connection with a TCP RST, sending nothing. The client sees a connection reset.
    - ``empty_reply``: close the connection cleanly without sending a byte.
    - ``dribble``: send the status line and headers, then the body ``chunk_size`` bytes at a time, waiting
      ``chunk_interval`` seconds between chunks.
    """

    kind: ActionKind = "respond"
    delay: float = 0.0
    hang_seconds: float | None = None
    chunk_size: int = 64
    chunk_interval: float = 0.1

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        if self.chunk_interval < 0:
            raise ValueError("chunk_interval must be >= 0")
        if self.hang_seconds is not None and self.hang_seconds < 0:
            raise ValueError("hang_seconds must be >= 0")


RESPOND = TransportAction()
"""The plain action: respond at once."""


def action_from_environ(environ: dict[str, object]) -> TransportAction:
    """The action the app left in ``environ``, or :data:`RESPOND` when it left none."""
    action = environ.get(ENVIRON_KEY)
    return action if isinstance(action, TransportAction) else RESPOND


# -- what a client meets -------------------------------------------------------------------------------------------
MeetKind = Literal["response", "timed_out", "timed_out_in_body", "closed", "reset", "hangs_forever"]


@dataclass(frozen=True, slots=True)
class ClientMeets:
    """What a client that waits at most ``timeout`` seconds for a response meets when a server carries out an
    action: ``kind``, and ``waited``, how long the client waited in all (latency, the hang it gave up on, the
    dribble). The one table every in-process transport applies (``rivosim.transports.inprocess`` raising what
    ``requests``, ``httpx`` and ``aiohttp`` raise, the scenario runner's transport returning a failed reply), so they
    cannot drift apart.

    - ``response``: the response arrives (after ``waited``).
    - ``timed_out``: latency beyond the timeout, or a hang the client gives up on first.
    - ``timed_out_in_body``: a body dribbled with pauses longer than the timeout.
    - ``closed``: an empty reply, or a hang the server ends (``hang_seconds``) before the client gives up.
    - ``reset``: the connection is reset.
    - ``hangs_forever``: a hang the server never ends, and a client with no timeout.
    """

    kind: MeetKind
    waited: float = 0.0


def client_meets(action: TransportAction, timeout: float | None, body_size: int) -> ClientMeets:
    """Apply the table above to ``action`` on a response of ``body_size`` bytes."""
    waited = 0.0
    if action.delay:
        if timeout is not None and action.delay > timeout:
            return ClientMeets("timed_out", timeout)
        waited = action.delay
    kind = action.kind
    if kind == "hang":
        hang = action.hang_seconds
        if timeout is not None and (hang is None or timeout <= hang):
            return ClientMeets("timed_out", waited + timeout)
        if hang is None:
            return ClientMeets("hangs_forever", waited)
        return ClientMeets("closed", waited + hang)
    if kind == "reset":
        return ClientMeets("reset", waited)
    if kind == "empty_reply":
        return ClientMeets("closed", waited)
    if kind == "dribble" and body_size:
        if timeout is not None and action.chunk_interval > timeout:
            return ClientMeets("timed_out_in_body", waited + timeout)
        waited += math.ceil(body_size / action.chunk_size) * action.chunk_interval
    return ClientMeets("response", waited)
