"""What every connection of one server shell shares: the app, the loop, the limits that protect the process
(:class:`ShellLimits`), the count of buffered body bytes across connections, and the sweeper that closes
connections past their header, body or keep-alive timeout.

The timeouts run on the event loop's own monotonic clock, never the simulator's: they protect the process, so a
virtual-clock server that nobody advances still closes a slowloris connection after ``header_timeout`` seconds.
One sweep over all connections every fraction of the shortest timeout costs less than a timer per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, Protocol

__all__ = ["AppErrorHook", "Context", "ShellLimits", "WSGIApp", "raise_open_files_limit"]

log = logging.getLogger("rivosim.transports.server")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
AppErrorHook = Callable[[BaseException, "dict[str, Any] | None"], None]

MIB = 1024 * 1024
SWEEP_BATCH = 32  # connections one sweep closes before it lets the loop serve others again
SWEEP_SLICE_PAUSE = 0.005  # seconds between two such slices


@dataclass(frozen=True, slots=True)
class ShellLimits:
    """Every limit of the server shell, with its safe default (README "Server limits" says what a client sees)."""

    header_timeout: float = 10.0  # first byte of a request -> end of its headers
    keepalive_timeout: float = 5.0  # idle between requests (and before the first one)
    body_timeout: float = 30.0  # no body progress for this long
    max_connections: int = 1000  # beyond it: 503 + Connection: close
    max_header_bytes: int = 64 * 1024  # request line + headers, in all -> 431
    max_headers: int = 100  # -> 431
    max_url_bytes: int = 8 * 1024  # request target -> 414
    max_body_bytes: int = 16 * MIB  # -> 413
    max_buffered_bytes: int = 256 * MIB  # request bodies held across all connections -> 503

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{f.name} must be a number > 0, not {value!r}")


def raise_open_files_limit(want: int) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` toward the hard limit (past ``ulimit -n`` every client is locked out, so
    a server that promises ``max_connections`` asks for room for them). Returns the soft limit now in force."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return want
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, want + 64)
    if hard != resource.RLIM_INFINITY:
        target = min(target if soft != resource.RLIM_INFINITY else hard, hard)
    if soft == resource.RLIM_INFINITY or target <= soft:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


class Connection(Protocol):
    """What the context needs of a connection (``HttpConnection``)."""

    def check_timeout(self, now: float) -> bool: ...

    def abort(self) -> None: ...


class Context:
    """What every connection of one server shares."""

    __slots__ = ("_sweeper", "app", "buffered", "connections", "limits", "loop", "on_app_error", "scheme",
                 "server_name", "server_port")

    def __init__(self, app: WSGIApp, loop: asyncio.AbstractEventLoop, limits: ShellLimits,
                 on_app_error: AppErrorHook | None, server_name: str, server_port: int, scheme: str = "http") -> None:
        self.app = app
        self.loop = loop
        self.limits = limits
        self.on_app_error = on_app_error
        self.server_name = server_name
        self.server_port = str(server_port)
        self.scheme = scheme
        self.connections: set[Connection] = set()
        self.buffered = 0  # request-body bytes held by all connections (received, not yet handed to the app)
        self._sweeper: asyncio.TimerHandle | None = None

    def report(self, exc: BaseException, environ: dict[str, Any] | None) -> None:
        if self.on_app_error is None:
            log.error("rivosim: unhandled error", exc_info=exc)
            return
        try:
            self.on_app_error(exc, environ)
        except Exception:  # the hook must never take the server down
            log.exception("rivosim: on_app_error hook failed")

    # -- timeouts --------------------------------------------------------------------------------------------
    def start_sweeping(self) -> None:
        limits = self.limits
        shortest = min(limits.header_timeout, limits.keepalive_timeout, limits.body_timeout)
        interval = min(max(shortest / 4, 0.02), 1.0)
        self._sweeper = self.loop.call_later(interval, self._sweep, interval)

    def stop_sweeping(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def _sweep(self, interval: float) -> None:
        now = self.loop.time()
        closed = 0
        for conn in list(self.connections):
            try:
                closed += conn.check_timeout(now)
            except Exception as exc:  # a bug here must not stop the sweeping
                self.report(exc, None)
            if closed >= SWEEP_BATCH:
                # Hundreds of connections time out together (slowloris clients opened at once): close them in
                # slices with the loop free in between, so the clients being served see a few short pauses
                # instead of one long one (and the closed ones' reconnects spread out too).
                self._sweeper = self.loop.call_later(SWEEP_SLICE_PAUSE, self._sweep, interval)
                return
        self._sweeper = self.loop.call_later(interval, self._sweep, interval)
