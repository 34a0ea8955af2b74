"""HTTP/1.1 connection handling for the server shell: parse with httptools, call the WSGI app inline, and
carry out the app's :class:`~rivosim.kernel.transport_action.TransportAction` on the event loop without
holding a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
import sys
from collections import deque
from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any, cast
from urllib.parse import unquote_to_bytes

import httptools

from rivosim.kernel.transport_action import RESPOND, TransportAction, action_from_environ
from rivosim.transports.http_head import build_head, error_response, header_key

log = logging.getLogger("rivosim.transports.server")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
AppErrorHook = Callable[[BaseException, "dict[str, Any] | None"], None]

# l_onoff=1, l_linger=0: close() then discards the send buffer and sends RST instead of FIN, which is the
# only portable way to make the client see "connection reset by peer".
_LINGER_RST = struct.pack("ii", 1, 0)
_DRAIN_SECONDS = 1.0  # after an error response, how long we keep reading (and discarding) before closing
_MAX_PIPELINE = 32  # parsed-but-unanswered requests per connection before we stop reading the socket
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_PROTOCOLS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}


class Context:
    """What every connection of one server shares."""

    __slots__ = ("app", "connections", "loop", "max_body", "on_app_error", "server_name", "server_port")

    def __init__(self, app: WSGIApp, loop: asyncio.AbstractEventLoop, max_body: int,
                 on_app_error: AppErrorHook | None, server_name: str, server_port: int) -> None:
        self.app = app
        self.loop = loop
        self.max_body = max_body
        self.on_app_error = on_app_error
        self.server_name = server_name
        self.server_port = str(server_port)
        self.connections: set[HttpConnection] = set()

    def report(self, exc: BaseException, environ: dict[str, Any] | None) -> None:
        if self.on_app_error is None:
            log.error("rivosim: unhandled error", exc_info=exc)
            return
        try:
            self.on_app_error(exc, environ)
        except Exception:  # the hook must never take the server down
            log.exception("rivosim: on_app_error hook failed")


class _TooLarge(Exception):
    pass


class HttpConnection(asyncio.Protocol):
    """One client connection. Requests are answered strictly in order; while a response is delayed, hung or
    dribbling (``_busy``), later requests on this connection wait in ``_pending``; other connections don't."""

    __slots__ = (
        "_base", "_body", "_body_len", "_busy", "_closing", "_ctx", "_env", "_eof", "_hanging", "_headers",
        "_keep_alive", "_parser", "_paused", "_pending", "_reading", "_status", "_timer", "_too_large",
        "_transport", "_url", "_write_paused", "_written",
    )

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._pending: deque[tuple[dict[str, Any], bool] | bytes] = deque()
        self._busy = self._hanging = self._closing = self._eof = self._too_large = False
        self._paused = False  # reading paused because too many requests wait on this connection
        self._write_paused = False  # reading paused because the client does not read what we write
        self._reading = True
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._base: dict[str, Any] = {}
        self._env: dict[str, Any] = {}
        self._url = b""
        self._body: list[bytes] | None = None
        self._body_len = 0
        self._keep_alive = True
        self._status: str | None = None
        self._headers: list[tuple[str, str]] = []
        self._written: list[bytes] | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it, so no isinstance check.
        self._transport = transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Small responses must not wait for Nagle/delayed-ACK (a 40 ms stall per keep-alive request).
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername") or ("", 0)
        ctx = self._ctx
        self._base = {
            "SCRIPT_NAME": "", "SERVER_NAME": ctx.server_name, "SERVER_PORT": ctx.server_port,
            "REMOTE_ADDR": str(peer[0]), "REMOTE_PORT": str(peer[1]) if len(peer) > 1 else "",
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
            "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }
        ctx.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._cancel_timer()
        self._pending.clear()
        self._ctx.connections.discard(self)

    def pause_writing(self) -> None:
        # A client that pipelines without reading would grow our write buffer without bound: stop reading its
        # requests until it catches up. (Hung/closing connections keep reading to notice the client leave.)
        self._write_paused = True
        if self._transport is not None and not self._paused and self._reading:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._transport is not None and not self._paused and self._reading:
            self._transport.resume_reading()

    def eof_received(self) -> bool | None:
        # The client half-closed. Finish a response already being prepared (delay/dribble), then close;
        # a hung or idle connection closes now.
        if self._busy and not self._hanging and not self._closing:
            self._eof = True
            return True
        return None

    def data_received(self, data: bytes) -> None:
        if not self._reading:
            return  # hung, or closing after an error: discard what the client still sends
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # We speak no other protocol; the upgrade request was answered as plain HTTP (keep_alive is
            # False for it) and whatever follows it on the wire is not HTTP/1.1 we could parse.
            self._reading = False
        except httptools.HttpParserCallbackError as exc:
            if self._too_large:
                self._reject(error_response("413 Payload Too Large",
                                            f"request body exceeds {self._ctx.max_body} bytes"))
            else:  # a bug in our own callbacks: say so rather than drop the connection silently
                cause = exc.__context__ or exc
                self._ctx.report(cause, None)
                self._reject(error_response("500 Internal Server Error", f"{type(cause).__name__}: {cause}",
                                            "X-Rivosim-Bug: 1\r\n"))
        except httptools.HttpParserError as exc:
            self._reject(error_response("400 Bad Request", f"malformed HTTP request: {exc}"))
        if not self._busy:
            self._process()
        if len(self._pending) >= _MAX_PIPELINE and not self._paused and self._transport is not None:
            self._paused = True
            if not self._write_paused:
                self._transport.pause_reading()

    # -- httptools callbacks ---------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._env = self._base.copy()
        self._url = b""
        self._body = None
        self._body_len = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = header_key(name)
        env = self._env
        old = env.get(key)
        if old is None:
            env[key] = value.decode("latin-1")
        else:
            env[key] = old + ("; " if key == "HTTP_COOKIE" else ",") + value.decode("latin-1")

    def on_headers_complete(self) -> None:
        parser = self._parser
        env = self._env
        env["REQUEST_METHOD"] = parser.get_method().decode("ascii")
        version = parser.get_http_version()
        env["SERVER_PROTOCOL"] = _PROTOCOLS.get(version) or "HTTP/" + version
        self._keep_alive = parser.should_keep_alive() and not parser.should_upgrade()
        length = env.get("CONTENT_LENGTH")
        if length is not None and int(length) > self._ctx.max_body:  # llhttp already validated the digits
            self._too_large = True
            raise _TooLarge
        expect = env.get("HTTP_EXPECT")
        if (expect is not None and expect.lower() == "100-continue" and version != "1.0"
                and not self._busy and not self._pending and self._transport is not None):
            # Only when nothing is queued ahead: an interim response must not overtake earlier answers.
            # Otherwise the client sends the body after its own expect-timeout anyway.
            self._transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self._ctx.max_body:
            self._too_large = True
            raise _TooLarge
        if self._body is None:
            self._body = [body]
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        env = self._env
        url = self._url
        if url[:1] == b"/":
            path, _, query = url.partition(b"?")
        else:  # absolute-form ("http://host/p?q") or "*"
            try:
                parsed = httptools.parse_url(url)
                path, query = parsed.path or b"/", parsed.query or b""
            except httptools.HttpParserInvalidURLError:
                path, query = url, b""
        env["PATH_INFO"] = (unquote_to_bytes(path) if b"%" in path else path).decode("latin-1")
        env["QUERY_STRING"] = query.decode("latin-1")
        if self._body is None:
            env["wsgi.input"] = BytesIO()
        else:
            body = b"".join(self._body)
            env["wsgi.input"] = BytesIO(body)
            if "CONTENT_LENGTH" not in env:  # chunked: tell the app how much we de-chunked for it
                env["CONTENT_LENGTH"] = str(len(body))
        self._pending.append((env, self._keep_alive))

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

    def _call_app(self, env: dict[str, Any], keep_alive: bool) -> tuple[bytes, bytes, TransportAction, bool]:
        """Run the app and serialize its answer: (head, body, action, keep_alive)."""
        # Inline on the loop thread: the app does no I/O, so a thread hop would only add latency, and
        # running every request on one thread keeps the simulated world single-threaded and deterministic.
        self._status = None
        self._written = None
        http10 = env["SERVER_PROTOCOL"] == "HTTP/1.0"
        try:
            result = self._ctx.app(env, self._start_response)
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
            self._ctx.report(exc, env)
            body = json.dumps({"errors": [{"status": "500", "title": "Internal Server Error",
                                           "detail": f"{type(exc).__name__}: {exc}"}]}).encode()
            headers = [("Content-Type", "application/json"), ("X-Rivosim-Bug", "1")]
            head, keep_alive = build_head("500 Internal Server Error", headers, len(body), keep_alive, http10)
            action = RESPOND
        if env["REQUEST_METHOD"] == "HEAD":
            body = b""
        return head, body, action, keep_alive

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
            env, keep_alive = item  # type: ignore[misc]
            head, body, action, keep_alive = self._call_app(env, keep_alive)
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
        if self._paused and len(pending) < _MAX_PIPELINE // 2 and self._transport is not None:
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
