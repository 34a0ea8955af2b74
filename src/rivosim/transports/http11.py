"""HTTP/1.1 parsing for the server shell's connections (httptools), with the shell's limits checked as bytes
arrive: header count and bytes (431), request target (414), body (413), bytes buffered across connections (503),
connections (503), and the header/body/keep-alive timeouts the context's sweeper enforces. Answering lives in
:mod:`rivosim.transports.http_answer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from io import BytesIO
from typing import Any, cast
from urllib.parse import unquote_to_bytes

import httptools

from rivosim.kernel.deferred import CAN_DEFER_KEY
from rivosim.transports.http_answer import IDLE, MAX_PIPELINE, AnsweringConnection
from rivosim.transports.http_head import error_response, header_key, shell_error
from rivosim.transports.shell_context import AppErrorHook, Context, WSGIApp

__all__ = ["AppErrorHook", "Context", "HttpConnection", "WSGIApp"]

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_PROTOCOLS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}
# What a connection waits for, so the sweeper knows which timeout applies (none while the app answers).
_IDLE, _HEAD, _BODY = IDLE, 1, 2


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; ``response`` is what the client gets."""

    def __init__(self, response: bytes) -> None:
        self.response = response


class HttpConnection(AnsweringConnection):
    """One client connection: parsing, limits and timeouts (answering is :class:`AnsweringConnection`'s).

    The shell's limits (:class:`~rivosim.transports.shell_context.ShellLimits`) are checked as bytes arrive,
    before anything is buffered past them; ``_phase`` and ``_since`` tell the context's sweeper which timeout
    applies and since when."""

    __slots__ = ("_base", "_began", "_body", "_body_len", "_env", "_head_bytes", "_header_count", "_keep_alive",
                 "_parser", "_repeats", "_url", "_write_paused_at")

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._parser = httptools.HttpRequestParser(self)
        self._base: dict[str, Any] = {}
        self._env: dict[str, Any] = {}
        self._url: list[bytes] = []
        self._body: list[bytes] | None = None
        self._body_len = self._head_bytes = self._header_count = 0
        self._repeats: dict[str, list[str]] | None = None
        self._keep_alive = True
        self._began = False  # a request began during the current data_received
        self._write_paused_at = 0.0

    # -- asyncio.Protocol ------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it, so no isinstance check.
        self._transport = transport = cast(asyncio.Transport, transport)
        ctx = self._ctx
        if len(ctx.connections) >= ctx.limits.max_connections:
            # Answer rather than leave the client in the backlog: it learns to back off (and to close idle ones).
            self._reading = False
            transport.write(error_response("503 Service Unavailable", f"the server holds its limit of "
                                           f"{ctx.limits.max_connections} connections; retry shortly",
                                           "Retry-After: 1\r\n"))
            transport.close()
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Small responses must not wait for Nagle/delayed-ACK (a 40 ms stall per keep-alive request).
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername") or ("", 0)
        self._base = {
            "SCRIPT_NAME": "", "SERVER_NAME": ctx.server_name, "SERVER_PORT": ctx.server_port,
            "REMOTE_ADDR": str(peer[0]), "REMOTE_PORT": str(peer[1]) if len(peer) > 1 else "",
            "wsgi.version": (1, 0), "wsgi.url_scheme": ctx.scheme, "wsgi.errors": sys.stderr,
            "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            CAN_DEFER_KEY: True,  # an answer that must wait for a slow receiver waits on a timer (kernel.deferred)
        }
        ctx.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._cancel_timer()
        self._pending.clear()
        self._body = None
        self._release(self._buffered)
        self._ctx.connections.discard(self)

    def pause_writing(self) -> None:
        # A client that pipelines without reading would grow our write buffer without bound: stop reading its
        # requests until it catches up. (Hung/closing connections keep reading to notice the client leave.)
        self._write_paused = True
        self._write_paused_at = self._ctx.loop.time()
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
        in_head = self._phase == _HEAD
        self._began = False
        try:
            self._parser.feed_data(data)
            if in_head and self._phase == _HEAD and not self._began:
                # Still in the headers: every byte of this chunk was head (header callbacks only fire once a
                # header is complete, so one endless header is caught here).
                self._head_bytes += len(data)
                self._check_head()
        except _Refused as exc:
            self._reject(exc.response)
        except httptools.HttpParserUpgrade:
            # We speak no other protocol; the upgrade request was answered as plain HTTP (keep_alive is
            # False for it) and whatever follows it on the wire is not HTTP/1.1 we could parse.
            self._reading = False
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__ or exc
            if isinstance(cause, _Refused):
                self._reject(cause.response)
            else:  # a bug in our own callbacks: say so rather than drop the connection silently
                self._ctx.report(cause, None)
                self._reject(shell_error("500 Internal Server Error", f"{type(cause).__name__}: {cause}",
                                         b"".join(self._url), "X-Rivosim-Bug: 1\r\n"))
        except httptools.HttpParserError as exc:
            self._reject(shell_error("400 Bad Request", f"malformed HTTP request: {exc}", b"".join(self._url)))
        if not self._busy:
            self._process()
        if len(self._pending) >= MAX_PIPELINE and not self._paused and self._transport is not None:
            self._paused = True
            if not self._write_paused:
                self._transport.pause_reading()

    # -- limits and timeouts ---------------------------------------------------------------------------------
    def _check_head(self) -> None:
        limits = self._ctx.limits
        if self._head_bytes > limits.max_header_bytes:
            raise _Refused(shell_error("431 Request Header Fields Too Large", f"the request line and headers "
                                       f"exceed {limits.max_header_bytes} bytes", b"".join(self._url)))

    def check_timeout(self, now: float) -> bool:
        """Close the connection if it has waited past the timeout of its phase (called by the sweeper); True
        when it did."""
        phase = self._phase
        limits = self._ctx.limits
        if self._write_paused and not self._closing and now - self._write_paused_at > limits.body_timeout:
            self.abort()  # it stopped reading our answers long ago: nothing more will reach it
            return True
        if self._busy or self._closing or self._transport is None or self._paused or self._write_paused:
            return False  # answering, or we stopped reading (backpressure): the client is not the one waiting
        if phase == _IDLE:
            if now - self._since > limits.keepalive_timeout and not self._pending:
                self.close()  # an idle keep-alive connection: close quietly, as every server does
                return True
        elif phase == _HEAD:
            if now - self._since > limits.header_timeout:
                # No lingering drain (as after other errors): a client this slow with its headers is most likely
                # a slowloris one, and hundreds of them time out together; each would cost a timer and a second
                # wake-up. The 408 leaves before the FIN all the same.
                self._reading = False
                self._closing = True
                self._transport.write(shell_error("408 Request Timeout", f"the request headers did not arrive "
                                                  f"within {limits.header_timeout:g} s", b"".join(self._url)))
                self.close()
                return True
        elif now - self._since > limits.body_timeout:
            # An unfinished body: free its buffer now, not when the client gives up.
            self._body = None
            self._release(self._buffered)
            self._reading = False
            self._finish_with(shell_error("408 Request Timeout", f"the request body made no progress for "
                                          f"{limits.body_timeout:g} s", b"".join(self._url)))
            return True
        return False

    # -- httptools callbacks ---------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._env = self._base.copy()
        self._url = []
        self._body = None
        self._body_len = self._head_bytes = self._header_count = 0
        self._repeats = None
        self._began = True
        self._phase = _HEAD
        self._since = self._ctx.loop.time()

    def on_url(self, url: bytes) -> None:
        self._url.append(url)
        self._head_bytes += len(url)
        limit = self._ctx.limits.max_url_bytes
        if self._head_bytes > limit and sum(map(len, self._url)) > limit:
            raise _Refused(shell_error("414 URI Too Long", f"the request target exceeds {limit} bytes",
                                       b"".join(self._url)[:256]))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        self._header_count += 1
        if self._header_count > self._ctx.limits.max_headers:
            raise _Refused(shell_error("431 Request Header Fields Too Large", f"more than "
                                       f"{self._ctx.limits.max_headers} request headers", b"".join(self._url)))
        self._check_head()
        key = header_key(name)
        if not key:
            return  # a name with "_" (see header_key)
        env = self._env
        if key not in env:
            env[key] = value.decode("latin-1")
        else:  # repeated: collected here, joined once (joining as they come is quadratic)
            repeats = self._repeats
            if repeats is None:
                repeats = self._repeats = {}
            repeats.setdefault(key, []).append(value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        parser = self._parser
        env = self._env
        if self._repeats:
            for key, values in self._repeats.items():
                env[key] = ("; " if key == "HTTP_COOKIE" else ",").join((env[key], *values))
        env["REQUEST_METHOD"] = parser.get_method().decode("ascii")
        version = parser.get_http_version()
        env["SERVER_PROTOCOL"] = _PROTOCOLS.get(version) or "HTTP/" + version
        self._keep_alive = parser.should_keep_alive() and not parser.should_upgrade()
        self._phase = _BODY
        self._since = self._ctx.loop.time()
        length = env.get("CONTENT_LENGTH")
        if length is not None:
            self._check_body(int(length))  # llhttp already validated the digits
        expect = env.get("HTTP_EXPECT")
        if (expect is not None and expect.lower() == "100-continue" and version != "1.0"
                and not self._busy and not self._pending and self._transport is not None):
            # Only when nothing is queued ahead: an interim response must not overtake earlier answers.
            # Otherwise the client sends the body after its own expect-timeout anyway.
            self._transport.write(_CONTINUE)

    def _check_body(self, size: int) -> None:
        ctx = self._ctx
        if size > ctx.limits.max_body_bytes:
            raise _Refused(shell_error("413 Payload Too Large", f"request body exceeds "
                                       f"{ctx.limits.max_body_bytes} bytes", b"".join(self._url)))
        if ctx.buffered - self._buffered + size > ctx.limits.max_buffered_bytes and size > self._body_len:
            raise _Refused(shell_error("503 Service Unavailable", "the server is holding too many request bodies "
                                       "at once; retry shortly", b"".join(self._url), "Retry-After: 1\r\n"))

    def on_body(self, body: bytes) -> None:
        size = len(body)
        self._body_len += size
        ctx = self._ctx
        if ctx.buffered + size > ctx.limits.max_buffered_bytes or self._body_len > ctx.limits.max_body_bytes:
            self._check_body(self._body_len + ctx.limits.max_buffered_bytes)
        self._buffered += size
        ctx.buffered += size
        self._since = ctx.loop.time()
        if self._body is None:
            self._body = [body]
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        env = self._env
        url = b"".join(self._url)
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
            self._body = None
            env["wsgi.input"] = BytesIO(body)
            if "CONTENT_LENGTH" not in env:  # chunked: tell the app how much we de-chunked for it
                env["CONTENT_LENGTH"] = str(len(body))
        self._pending.append((env, self._keep_alive, self._body_len))
        self._phase = _IDLE
        self._since = self._ctx.loop.time()

