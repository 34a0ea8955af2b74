"""A crowd of slowloris connections timing out together (issue 14): the sweeper closes them in slices with the loop
free in between, each with its 408 and no lingering drain, and a well-behaved client is served throughout."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import requests

from rivosim.transports.server import Server
from rivosim.transports.shell_context import SWEEP_BATCH, SWEEP_SLICE_PAUSE, Context, ShellLimits

T = 5.0


class TimedOut:
    """A connection whose timeout has passed."""

    def __init__(self, closed: list[TimedOut]) -> None:
        self.closed = closed

    def check_timeout(self, now: float) -> bool:
        if self in self.closed:
            return False
        self.closed.append(self)
        return True

    def abort(self) -> None:
        pass


def test_one_sweep_closes_a_slice_and_comes_back_for_the_rest_at_once() -> None:
    loop = asyncio.new_event_loop()
    try:
        ctx = Context(lambda env, start: [], loop, ShellLimits(header_timeout=1.0), None, "127.0.0.1", 0)
        closed: list[TimedOut] = []
        ctx.connections.update(TimedOut(closed) for _ in range(3 * SWEEP_BATCH + 5))
        ctx._sweep(0.25)
        assert len(closed) == SWEEP_BATCH  # one slice, then the loop is free again
        assert ctx._sweeper is not None
        assert ctx._sweeper.when() - loop.time() <= SWEEP_SLICE_PAUSE + 0.001  # the next slice follows at once
        for _ in range(3):
            ctx._sweep(0.25)
        assert len(closed) == 3 * SWEEP_BATCH + 5
        assert ctx._sweeper.when() - loop.time() > 0.2  # all done: back to the normal interval
        ctx.stop_sweeping()
    finally:
        loop.close()


def ok_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_a_crowd_of_slowloris_connections_gets_408s_and_is_gone_while_others_are_served() -> None:
    crowd = 150
    with Server(ok_app, header_timeout=0.5) as server:
        socks = []
        for _ in range(crowd):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=T)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(sock)
        served = 0
        deadline = time.monotonic() + 30  # generous: a loaded CI host shares its cores
        with requests.Session() as http:
            while server.connection_count > 1 and time.monotonic() < deadline:  # (the session's own connection)
                assert http.get(server.url + "/fine", timeout=T).text == "ok"
                served += 1
        assert server.connection_count <= 1 and served > 0
        answered = 0
        for sock in socks:
            sock.settimeout(T)
            data = b""
            try:
                while chunk := sock.recv(4096):
                    data += chunk
            except ConnectionResetError:
                pass
            answered += data.startswith(b"HTTP/1.1 408")
            sock.close()
        assert answered == crowd


def test_the_sweeper_keeps_running_after_a_slice() -> None:
    """The slices reschedule the sweeper; an idle connection opened later is still closed by it."""
    with Server(ok_app, keepalive_timeout=0.3, header_timeout=0.3) as server:
        socks = [socket.create_connection(("127.0.0.1", server.port), timeout=T) for _ in range(SWEEP_BATCH * 2)]
        for sock in socks:
            sock.sendall(b"GET / HTTP/1.1\r\n")
        deadline = time.monotonic() + 30  # generous: a loaded CI host shares its cores
        while server.connection_count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.connection_count == 0
        late = socket.create_connection(("127.0.0.1", server.port), timeout=T)
        done = threading.Event()
        threading.Thread(target=lambda: (late.recv(1), done.set()), daemon=True).start()
        assert done.wait(T)  # closed by the keep-alive timeout: the sweeper still runs
        late.close()
        for sock in socks:
            sock.close()
