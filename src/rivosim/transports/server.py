"""The server shell: a real HTTP/1.1 server that runs the WSGI app inline on one asyncio (uvloop) event loop
and carries out each request's :class:`~rivosim.kernel.transport_action.TransportAction` with timers,
never with threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from rivosim.transports.http11 import HttpConnection
from rivosim.transports.shell_context import AppErrorHook, Context, ShellLimits, WSGIApp, raise_open_files_limit

__all__ = ["LIMIT_NAMES", "Server", "ShellLimits", "serve"]

LIMIT_NAMES = tuple(f.name for f in fields(ShellLimits))
"""The ``Server(...)`` keyword arguments that set a :class:`ShellLimits` field (the same names as serve's flags)."""

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is not available on Windows
    uvloop = None  # type: ignore[assignment]


def _new_loop() -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


class Server:
    """Serve ``app`` on ``host:port``; with ``port=0`` a free port is picked and :attr:`port` set on start.

    ``tick()`` runs on the loop thread every ``tick_interval`` seconds. ``on_app_error(exc, environ)`` hears
    of exceptions from the app (with its environ), from ``tick`` and from :meth:`call_soon` (environ None).

    Limits: ``limits=ShellLimits(...)``, or any of its fields as a keyword (``header_timeout=2``,
    ``max_connections=50``, ...). ``certfile``/``keyfile``: serve HTTPS (TLS) instead of plain HTTP.
    """

    def __init__(self, app: WSGIApp, host: str = "127.0.0.1", port: int = 0, *,
                 tick: Callable[[], None] | None = None, tick_interval: float = 0.05,
                 on_app_error: AppErrorHook | None = None, backlog: int = 1024,
                 limits: ShellLimits | None = None, certfile: str | None = None, keyfile: str | None = None,
                 **limit_overrides: float) -> None:
        if tick_interval <= 0:
            raise ValueError("tick_interval must be > 0")
        unknown = set(limit_overrides) - set(LIMIT_NAMES)
        if unknown:
            raise TypeError(f"unknown Server argument {sorted(unknown)[0]!r}")
        self.limits = replace(limits or ShellLimits(), **limit_overrides)
        self.ssl_context: ssl.SSLContext | None = None
        if certfile is not None:
            self.ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ssl_context.load_cert_chain(certfile, keyfile)
        elif keyfile is not None:
            raise ValueError("keyfile needs certfile")
        self.app = app
        self.host = host
        self.port = port
        self.tick = tick
        self.tick_interval = tick_interval
        self.on_app_error = on_app_error
        self.backlog = backlog
        self._lock = threading.Lock()
        self._state = "new"  # new -> running -> stopping -> stopped
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._ctx: Context | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._next_tick = 0.0
        self._loop_ident: int | None = None

    @property
    def max_body_bytes(self) -> int:
        return self.limits.max_body_bytes

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.ssl_context else 'http'}://{host}:{self.port}"

    @property
    def buffered_bytes(self) -> int:
        """Request-body bytes held right now across all connections."""
        return self._ctx.buffered if self._ctx is not None else 0

    @property
    def connection_count(self) -> int:
        return len(self._ctx.connections) if self._ctx is not None else 0

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> Server:
        """Start serving on a daemon thread; returns once the socket listens. Raises if binding fails."""
        sock = self._claim_and_bind()
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(sock, ready, errors, False), daemon=True,
                                        name=f"rivosim-server-{self.port}")
        self._thread.start()
        if not ready.wait(10.0):
            raise RuntimeError("rivosim server did not start within 10 s")
        if errors:
            raise errors[0]
        return self

    def serve_forever(self) -> None:
        """Serve on the current thread until SIGINT/SIGTERM (main thread only) or :meth:`stop`."""
        sock = self._claim_and_bind()
        errors: list[BaseException] = []
        self._run(sock, threading.Event(), errors, threading.current_thread() is threading.main_thread())
        if errors:
            raise errors[0]

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every connection (hung ones too), then end the loop. Idempotent."""
        with self._lock:
            state, loop = self._state, None
            if state in ("running", "starting"):
                self._state = "stopping"
                loop = self._loop if state == "running" else None
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(self._shutdown)
        if state == "new" or threading.get_ident() == self._loop_ident:
            return  # never started, or stop() from a tick/app: the loop ends once control returns to it
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._stopped.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server has stopped (True) or ``timeout`` seconds pass (False)."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop thread (safe from any thread); its exceptions go to on_app_error."""
        loop = self._loop
        if loop is None or self._state != "running":
            raise RuntimeError("server is not running")
        loop.call_soon_threadsafe(self._guarded, fn, args)

    # -- loop thread -----------------------------------------------------------------------------------------
    def _claim_and_bind(self) -> socket.socket:
        with self._lock:
            if self._state != "new":
                raise RuntimeError("a Server can be started once")
            self._state = "starting"
        raise_open_files_limit(self.limits.max_connections)
        try:
            family, kind, proto, _, addr = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
            sock = socket.socket(family, kind, proto)
            try:
                # Restarting on the same port must not fail on connections still in TIME_WAIT.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(addr)
                sock.listen(self.backlog)
                sock.setblocking(False)
            except BaseException:
                sock.close()
                raise
        except BaseException:
            self._state = "new"
            raise
        self.port = sock.getsockname()[1]
        return sock

    def _run(self, sock: socket.socket, ready: threading.Event, errors: list[BaseException],
             signals: bool) -> None:
        loop = _new_loop()
        self._loop_ident = threading.get_ident()
        try:
            asyncio.set_event_loop(loop)
            ctx = Context(self.app, loop, self.limits, self.on_app_error, self.host, self.port,
                          "https" if self.ssl_context else "http")
            self._server = loop.run_until_complete(
                loop.create_server(lambda: HttpConnection(ctx), sock=sock, backlog=self.backlog,
                                   ssl=self.ssl_context))
            self._ctx = ctx
            ctx.start_sweeping()
            if self.tick is not None:
                self._next_tick = loop.time() + self.tick_interval
                self._tick_handle = loop.call_at(self._next_tick, self._tick)
            if signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, self._shutdown)
            with self._lock:
                self._loop = loop
                stop_early = self._state == "stopping"  # stop() arrived while we were starting
                self._state = "stopping" if stop_early else "running"
            if stop_early:
                loop.call_soon(self._shutdown)
        except BaseException as exc:
            errors.append(exc)
            sock.close()
            loop.close()
            self._state = "stopped"
            self._stopped.set()
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            self._state = "stopping"
            self._shutdown(stop_loop=False)
            # Let aborted transports deliver connection_lost before the loop goes away.
            loop.run_until_complete(asyncio.sleep(0))
            loop.run_until_complete(asyncio.sleep(0))
            if signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
            asyncio.set_event_loop(None)
            loop.close()
            self._state = "stopped"
            self._stopped.set()

    def _shutdown(self, stop_loop: bool = True) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        if self._server is not None:
            self._server.close()
        if self._ctx is not None:
            self._ctx.stop_sweeping()
            for conn in list(self._ctx.connections):
                conn.abort()
        if stop_loop and self._loop is not None:
            self._loop.stop()

    def _tick(self) -> None:
        loop = self._loop
        assert self.tick is not None and loop is not None
        try:
            self.tick()
        except Exception as exc:
            self._report(exc)
        if self._tick_handle is None:  # tick() called stop(); we are shutting down
            return
        # Fixed rate without catch-up bursts: if the loop fell behind, resume one interval from now.
        now = loop.time()
        self._next_tick += self.tick_interval
        if self._next_tick <= now:
            self._next_tick = now + self.tick_interval
        self._tick_handle = loop.call_at(self._next_tick, self._tick)

    def _guarded(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception as exc:
            self._report(exc)

    def _report(self, exc: BaseException) -> None:
        if self._ctx is not None:
            self._ctx.report(exc, None)


def serve(app: WSGIApp, host: str = "127.0.0.1", port: int = 8282, **kwargs: Any) -> None:
    """Serve ``app`` on the current thread until interrupted."""
    Server(app, host, port, **kwargs).serve_forever()
