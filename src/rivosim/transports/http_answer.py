"""Answering for the server shell's connections, strictly in order: run the WSGI app inline, serialize its
answer, and carry out its :class:`~rivosim.kernel.transport_action.TransportAction` (delay, hang, reset, empty
reply, dribble) with loop timers, never with threads. :class:`~rivosim.transports.http11.HttpConnection` adds
the parsing and the limits on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from rivosim.kernel.deferred import deferral_from_environ
from rivosim.kernel.transport_action import RESPOND, TransportAction, action_from_environ
from rivosim.transports.http_head import build_head, error_body
from rivosim.transports.shell_context import Context

__all__ = ["IDLE", "AnsweringConnection"]

# l_onoff=1, l_linger=0: close() then discards the send buffer and sends RST instead of FIN, which is the
# only portable way to make the client see "connection reset by peer".
_LINGER_RST = struct.pack("ii", 1, 0)
_DRAIN_SECONDS = 1.0  # after an error response, how long we keep reading (and discarding) before closing
MAX_PIPELINE = 32  # parsed-but-unanswered requests per connection before we stop reading the socket
IDLE = 0  # the phase between requests (see HttpConnection._phase)


class _Deferred:
    """An app result whose answer waits for its deferral (see :mod:`rivosim.kernel.deferred`)."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result


class AnsweringConnection(asyncio.Protocol):
    """The answering half of a connection. Requests are answered strictly in order; while a response is delayed,
    hung or dribbling (``_busy``), later requests on this connection wait in ``_pending``; other connections
    don't."""

    __slots__ = ("_buffered", "_busy", "_closing", "_ctx", "_eof", "_hanging", "_headers", "_paused", "_pending",
                 "_phase", "_reading", "_since", "_status", "_timer", "_transport", "_write_paused", "_written")

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._transport: asyncio.Transport | None = None
        self._pending: deque[tuple[dict[str, Any], bool, int] | bytes] = deque()
        self._busy = self._hanging = self._closing = self._eof = False
        self._paused = False  # reading paused because too many requests wait on this connection
        self._write_paused = False  # reading paused because the client does not read what we write
        self._reading = True
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._buffered = 0  # body bytes this connection holds (counted in ctx.buffered too)
        self._status: str | None = None
        self._headers: list[tuple[str, str]] = []
        self._written: list[bytes] | None = None
        self._phase = IDLE
        self._since = ctx.loop.time()

    def _release(self, size: int) -> None:
        if size:
            self._buffered -= size
            self._ctx.buffered -= size

    # -- WSGI ------------------------------------------------------------------------------------------------
    def _start_response(self, status: str, headers: list[tuple[str, str]],
                        exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            # Nothing reaches the wire before the app returns, so an error page may always replace the
            # response started so far (PEP 3333 re-raises only once headers were sent).
            self._written = None
        elif self._status is not None:
            raise AssertionError("start_response called twice without exc_info")
        self._status = status
        self._headers = headers
        return self._write

    def _write(self, data: bytes) -> None:
        if self._written is None:
            self._written = [data]
        else:
            self._written.append(data)

    def _call_app(self, env: dict[str, Any],
                  keep_alive: bool) -> tuple[bytes, bytes, TransportAction, bool] | _Deferred:
        """Run the app and serialize its answer: (head, body, action, keep_alive); or, when the app deferred its
        answer (:mod:`rivosim.kernel.deferred`), its unread result, for :meth:`_answer_deferred`."""
        # Inline on the loop thread: the app does no I/O, so a thread hop would only add latency, and
        # running every request on one thread keeps the simulated world single-threaded and deterministic.
        self._status = None
        self._written = None
        try:
            result = self._ctx.app(env, self._start_response)
        except Exception as exc:
            return self._app_failed(env, keep_alive, exc)
        if deferral_from_environ(env) is not None:
            return _Deferred(result)
        return self._serialize(env, result, keep_alive)

    def _serialize(self, env: dict[str, Any], result: Any,
                   keep_alive: bool) -> tuple[bytes, bytes, TransportAction, bool]:
        http10 = env["SERVER_PROTOCOL"] == "HTTP/1.0"
        try:
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if self._written is not None:
                body = b"".join(self._written) + body
            if self._status is None:
                raise RuntimeError("WSGI app returned without calling start_response")
            head, keep_alive = build_head(self._status, self._headers, len(body), keep_alive, http10)
            action = action_from_environ(env)
        except Exception as exc:  # includes unserializable status/headers: never take the connection down
            return self._app_failed(env, keep_alive, exc)
        if env["REQUEST_METHOD"] == "HEAD":
            body = b""
        return head, body, action, keep_alive

    def _app_failed(self, env: dict[str, Any], keep_alive: bool,
                    exc: Exception) -> tuple[bytes, bytes, TransportAction, bool]:
        self._ctx.report(exc, env)
        body = error_body("500 Internal Server Error", f"{type(exc).__name__}: {exc}", env["PATH_INFO"])
        headers = [("Content-Type", "application/json"), ("X-Rivosim-Bug", "1")]
        head, keep_alive = build_head("500 Internal Server Error", headers, len(body), keep_alive,
                                      env["SERVER_PROTOCOL"] == "HTTP/1.0")
        return head, body, RESPOND, keep_alive

    def _answer_deferred(self, env: dict[str, Any], result: Any, keep_alive: bool) -> None:
        """Poll the app's deferral on loop timers (other connections are served in between); answer once ready."""
        self._timer = None
        if self._transport is None:  # the client left (or the server stopped): the answer has nowhere to go
            close = getattr(result, "close", None)
            if close is not None:
                close()
            return
        deferral = deferral_from_environ(env)
        assert deferral is not None
        try:
            ready = deferral.ready()
        except Exception as exc:
            self._ctx.report(exc, env)
            ready = True
        if not ready:
            self._timer = self._ctx.loop.call_later(deferral.poll_interval, self._answer_deferred, env, result,
                                                    keep_alive)
            return
        head, body, _, keep_alive = self._serialize(env, result, keep_alive)
        self._transport.write(head + body)
        self._done(keep_alive)

    # -- answering, in order ---------------------------------------------------------------------------------
    def _process(self) -> None:
        transport = self._transport
        if transport is None:
            return
        pending = self._pending
        out: list[bytes] = []  # responses to pipelined requests leave in one write (one syscall)
        while pending and not self._busy and not self._closing:
            item = pending.popleft()
            if type(item) is bytes:
                if out:
                    transport.write(b"".join(out))
                self._finish_with(item)
                return
            env, keep_alive, size = item  # type: ignore[misc]
            self._release(size)  # the body now belongs to the app's wsgi.input
            answer = self._call_app(env, keep_alive)
            if type(answer) is _Deferred:
                if out:  # earlier answers must not wait behind this one
                    transport.write(b"".join(out))
                    out = []
                self._busy = True
                self._answer_deferred(env, answer.result, keep_alive)
                continue
            head, body, action, keep_alive = answer
            if action is RESPOND or (action.kind == "respond" and not action.delay):
                out.append(head)
                if body:
                    out.append(body)
                if not keep_alive:
                    transport.write(b"".join(out))
                    self.close()
                    return
                continue
            if out:  # earlier answers must not wait behind this one
                transport.write(b"".join(out))
                out = []
            self._busy = True
            if action.delay:
                self._timer = self._ctx.loop.call_later(action.delay, self._act, action, head, body,
                                                        keep_alive)
            else:
                self._act(action, head, body, keep_alive)
        if out:
            transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self._phase == IDLE:
            self._since = self._ctx.loop.time()  # keep-alive idleness counts from the last answer
        if self._paused and len(pending) < MAX_PIPELINE // 2 and self._transport is not None:
            self._paused = False
            if not self._write_paused:
                self._transport.resume_reading()
        if self._eof and not self._busy and not pending and self._transport is not None:
            self._transport.close()

    def _act(self, action: TransportAction, head: bytes, body: bytes, keep_alive: bool) -> None:
        self._timer = None
        transport = self._transport
        if transport is None:
            return
        kind = action.kind
        loop = self._ctx.loop
        if kind == "respond":
            transport.write(head + body)
            self._done(keep_alive)
        elif kind == "hang":
            # Park the connection: no thread waits, the socket just stays open. Keep reading (and discarding)
            # so we notice the client going away.
            self._hanging = True
            self._keep_reading()
            if action.hang_seconds is not None:
                self._timer = loop.call_later(action.hang_seconds, self.close)
        elif kind == "reset":
            self.reset()
        elif kind == "empty_reply":
            self.close()
        elif kind == "dribble":
            transport.write(head)
            self._timer = loop.call_later(action.chunk_interval, self._dribble, body, 0, action, keep_alive)
        else:  # pragma: no cover - ActionKind is a closed Literal
            raise AssertionError(kind)

    def _dribble(self, body: bytes, offset: int, action: TransportAction, keep_alive: bool) -> None:
        self._timer = None
        if self._transport is None:
            return
        if offset < len(body):
            end = offset + action.chunk_size
            self._transport.write(body[offset:end])
            if end < len(body):
                self._timer = self._ctx.loop.call_later(action.chunk_interval, self._dribble, body, end,
                                                        action, keep_alive)
                return
        self._done(keep_alive)

    def _done(self, keep_alive: bool) -> None:
        self._busy = False
        if not keep_alive:
            self.close()
        else:
            self._process()

    def _reject(self, response: bytes) -> None:
        self._reading = False
        self._pending.append(response)

    def _finish_with(self, response: bytes) -> None:
        """Send a final error response, then keep draining the client's input for a moment before closing:
        closing a socket with unread data sends RST, which could destroy the response before it is read."""
        transport = self._transport
        assert transport is not None
        self._closing = True
        transport.write(response)
        self._keep_reading()
        try:
            transport.write_eof()
        except (NotImplementedError, RuntimeError, OSError):
            transport.close()
            return
        self._timer = self._ctx.loop.call_later(_DRAIN_SECONDS, self.close)

    def _keep_reading(self) -> None:
        """Stop parsing but keep reading (and discarding), so we notice when the client goes away."""
        self._reading = False
        if (self._paused or self._write_paused) and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    # -- ending ----------------------------------------------------------------------------------------------
    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """Close cleanly (FIN) after flushing anything already written."""
        self._cancel_timer()
        if self._transport is not None:
            self._closing = True
            self._transport.close()

    def reset(self) -> None:
        """Abort with a TCP RST, discarding unsent bytes."""
        self._cancel_timer()
        transport = self._transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        self._closing = True
        transport.abort()

    def abort(self) -> None:
        """Drop the connection at once (server shutdown)."""
        self._cancel_timer()
        if self._transport is not None:
            self._closing = True
            self._transport.abort()
