"""The contract between the request pipeline and whatever carries bytes (server shell or in-process mode).

The pipeline *decides* what the client experiences; a transport only *carries it out*. The WSGI app stores its
decision in ``environ[ENVIRON_KEY]`` before returning. A transport that finds no action there simply responds.

- The server shell (``rivosim.server``) carries out each action on its event loop without holding a thread:
  waiting is a timer, hanging is a parked connection, a reset is an aborted socket.
- In-process mode (``rivosim.inprocess``) maps the same actions to the exceptions ``requests`` raises and
  advances the virtual clock instead of sleeping.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

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
    dribble). The one table both in-process transports apply (``rivosim.inprocess`` raising what ``requests``
    raises, the scenario runner's transport returning a failed reply), so they cannot drift apart.

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


# -- the request side ----------------------------------------------------------------------------------------------
def wsgi_environ(method: str, path: str, query: str = "", headers: Mapping[str, str] | None = None,
                 body: bytes = b"", *, scheme: str = "http", host: str = "localhost", port: int | None = None
                 ) -> dict[str, Any]:
    """The WSGI environ the server shell builds for a request, field for field: what both in-process transports
    hand ``create_app(sim)``. ``path`` is as sent on the wire (percent-encoded); ``PATH_INFO`` gets its bytes as
    latin-1 text, as PEP 3333 says."""
    port = port or (443 if scheme == "https" else 80)
    default_port = port == (443 if scheme == "https" else 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1") if "%" in path else (path or "/"),
        "QUERY_STRING": query,
        "SERVER_NAME": host,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": host if default_port else f"{host}:{port}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    if body and "CONTENT_LENGTH" not in environ:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def call_app(app: Callable[[dict[str, Any], Any], Iterable[bytes]], environ: dict[str, Any]
             ) -> tuple[str, list[tuple[str, str]], bytes]:
    """Call a WSGI app the way a server does, for the in-process transports: ``(status line, headers, body)``,
    the body being what ``write()`` was given followed by the returned iterable, which is closed afterwards."""
    head: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        head[:] = [status, headers]
        return written.append

    result = app(environ, start_response)
    try:
        rest = b"".join(result)  # first: an app may write() while its iterable runs
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return head[0], head[1], b"".join(written) + rest
