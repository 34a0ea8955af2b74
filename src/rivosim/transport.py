"""The contract between the request pipeline and whatever carries bytes (server shell or in-process mode).

The pipeline *decides* what the client experiences; a transport only *carries it out*. The WSGI app stores its
decision in ``environ[ENVIRON_KEY]`` before returning. A transport that finds no action there simply responds.

- The server shell (``rivosim.server``) carries out each action on its event loop without holding a thread:
  waiting is a timer, hanging is a parked connection, a reset is an aborted socket.
- In-process mode (``rivosim.inprocess``) maps the same actions to the exceptions ``requests`` raises and
  advances the virtual clock instead of sleeping.
"""

from __future__ import annotations

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
