"""The server shell over real sockets: HTTP/1.1 semantics, WSGI environ, every transport action, lifecycle."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

import flask
import pytest
import requests

import rivosim.transports.server as server_mod
from rivosim.kernel.transport_action import ENVIRON_KEY, TransportAction
from rivosim.transports.server import Server

T = 5.0  # upper bound for any single network wait in these tests


LOOP_TIMER_SLACK = 0.005  # seconds: how early an event-loop timer may fire against time.monotonic

def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """/boom raises; /act?kind=..&delay=.. sets a transport action; any other path echoes the request."""
    path = environ["PATH_INFO"]
    q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    if path == "/boom":
        raise ValueError("kaboom")
    if path == "/act":
        environ[ENVIRON_KEY] = TransportAction(
            kind=q.get("kind", "respond"),  # type: ignore[arg-type]
            delay=float(q.get("delay", 0)),
            hang_seconds=float(q["hang"]) if "hang" in q else None,
            chunk_size=int(q.get("chunk", 64)),
            chunk_interval=float(q.get("interval", 0.1)),
        )
        body = b"x" * int(q.get("size", 10))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    environ["wsgi.errors"].write("")  # must be a usable stream
    echo = {k: v for k, v in environ.items() if isinstance(v, str | bool | tuple) and k != ENVIRON_KEY}
    echo["body"] = environ["wsgi.input"].read().decode("latin-1")
    echo["thread"] = threading.get_ident()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(echo).encode()]


@pytest.fixture(params=["uvloop", "asyncio"])
def loop_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "asyncio":
        monkeypatch.setattr(server_mod, "_new_loop", asyncio.new_event_loop)
    return request.param


@pytest.fixture
def errors() -> list[tuple[BaseException, Any]]:
    return []


@pytest.fixture
def srv(loop_kind: str, errors: list[tuple[BaseException, Any]]):
    s = Server(wsgi_app, on_app_error=lambda exc, env: errors.append((exc, env)), max_body_bytes=1000).start()
    yield s
    s.stop()


def connect(s: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=T)
    return sock


def read_response(sock: socket.socket, buf: bytearray | None = None) -> tuple[bytes, dict[str, str], bytes]:
    """Read exactly one Content-Length-framed response; leftover bytes stay in ``buf``."""
    buf = bytearray() if buf is None else buf
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(bytes(buf))
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(rest)
        rest += chunk
    buf[:] = rest[length:]
    return lines[0].encode(), headers, rest[:length]


def read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


# -- HTTP semantics ------------------------------------------------------------------------------------------
def test_flask_get_and_post_json_echo() -> None:
    app = flask.Flask("t")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> Any:
        return {"id": item_id, "q": flask.request.args.get("q")}

    @app.post("/echo")
    def echo() -> Any:
        return flask.jsonify(flask.request.get_json()), 201

    with Server(app) as s:
        r = requests.get(f"{s.url}/items/7?q=hi", timeout=T)
        assert (r.status_code, r.json()) == (200, {"id": 7, "q": "hi"})
        r = requests.post(f"{s.url}/echo", json={"a": [1, 2], "b": "é"}, timeout=T)
        assert (r.status_code, r.json()) == (201, {"a": [1, 2], "b": "é"})
        assert r.headers["Server"] == "rivosim" and r.headers["Date"].endswith("GMT")


def test_environ_per_pep3333(srv: Server) -> None:
    r = requests.post(f"{srv.url}/caf%C3%A9/a%2Fb?x=1&y=%20z", data=b"hello", timeout=T,
                      headers={"Content-Type": "text/x-test"})
    env = r.json()
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/caf\u00c3\u00a9/a/b"  # percent-decoded bytes, read as latin-1
    assert env["QUERY_STRING"] == "x=1&y=%20z"  # left raw
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", str(srv.port))
    assert env["REMOTE_ADDR"] == "127.0.0.1" and int(env["REMOTE_PORT"]) > 0
    assert (env["CONTENT_TYPE"], env["CONTENT_LENGTH"], env["body"]) == ("text/x-test", "5", "hello")
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_HOST"] == f"127.0.0.1:{srv.port}"
    assert env["wsgi.version"] == [1, 0] and env["wsgi.url_scheme"] == "http"
    assert (env["wsgi.multithread"], env["wsgi.multiprocess"], env["wsgi.run_once"]) == (False, False, False)


def test_repeated_headers_are_joined(srv: Server) -> None:
    with connect(srv) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Multi: a\r\nx-multi: b\r\nX-One: 1\r\n\r\n")
        _, _, body = read_response(sock)
    env = json.loads(body)
    assert (env["HTTP_X_MULTI"], env["HTTP_X_ONE"]) == ("a,b", "1")


def test_keep_alive_reuses_one_connection(srv: Server) -> None:
    with requests.Session() as session:
        first = session.get(f"{srv.url}/1", timeout=T).json()
        second = session.get(f"{srv.url}/2", timeout=T).json()
    assert first["REMOTE_PORT"] == second["REMOTE_PORT"]
    with connect(srv) as sock:
        buf = bytearray()
        for path in (b"/a", b"/b"):
            sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = read_response(sock, buf)
            assert status == b"HTTP/1.1 200 OK" and "connection" not in headers
            assert json.loads(body)["PATH_INFO"] == path.decode()


def test_connection_close_is_honoured(srv: Server) -> None:
    with connect(srv) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        _, headers, _ = read_response(sock)
        assert headers["connection"] == "close"
        assert read_to_eof(sock) == b""


def test_http10_closes_unless_keep_alive_requested(srv: Server) -> None:
    with connect(srv) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        status, headers, _ = read_response(sock)
        assert status == b"HTTP/1.1 200 OK" and headers["connection"] == "close"
        assert read_to_eof(sock) == b""
    with connect(srv) as sock:
        buf = bytearray()
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            _, headers, body = read_response(sock, buf)
            assert headers["connection"] == "keep-alive"
            assert json.loads(body)["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_pipelined_requests_answer_in_order_and_delay_holds_only_its_connection(srv: Server) -> None:
    with connect(srv) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /act?delay=0.3&size=3 HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"POST /third HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        # Another connection is not held up by the delayed response on this one.
        t0 = time.monotonic()
        assert requests.get(f"{srv.url}/other", timeout=T).status_code == 200
        assert time.monotonic() - t0 < 0.2
        buf = bytearray()
        assert read_response(sock, buf)[2] == b"xxx"
        assert time.monotonic() - started >= 0.29
        assert json.loads(read_response(sock, buf)[2])["PATH_INFO"] == "/second"
        third = json.loads(read_response(sock, buf)[2])
        assert (third["PATH_INFO"], third["body"]) == ("/third", "hi")


def test_deep_pipeline_and_a_client_that_reads_late_get_every_answer_in_order(srv: Server) -> None:
    # Exercises both flow-control paths: >32 requests queued behind a delay, and a write buffer far larger
    # than the socket buffers because the client sends everything before reading anything.
    # The padding makes the requests outgrow one read, so reading must really pause and resume.
    n, size, pad = 300, 50_000, b"X-Pad: " + b"p" * 8000 + b"\r\n"
    requests_bytes = b"GET /act?delay=0.2&size=1 HTTP/1.1\r\nHost: x\r\n\r\n" + b"".join(
        b"GET /act?size=%d HTTP/1.1\r\nHost: x\r\n%s\r\n" % (size + i, pad) for i in range(n))
    with connect(srv) as sock:
        sender = threading.Thread(target=sock.sendall, args=(requests_bytes,), daemon=True)
        sender.start()
        time.sleep(0.4)
        buf = bytearray()
        assert read_response(sock, buf)[2] == b"x"
        for i in range(n):
            assert len(read_response(sock, buf)[2]) == size + i
        sender.join(T)
        assert not sender.is_alive()


def test_unserializable_headers_give_500() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("X-Snowman", "\u2603")])  # not latin-1: cannot go on the wire
        return [b"ok"]

    seen: list[BaseException] = []
    with Server(app, on_app_error=lambda exc, env: seen.append(exc)) as s:
        r = requests.get(s.url, timeout=T)
        assert r.status_code == 500 and r.headers["X-Rivosim-Bug"] == "1" and "X-Snowman" not in r.headers
        assert isinstance(seen[0], UnicodeEncodeError)


def test_chunked_request_body(srv: Server) -> None:
    r = requests.post(f"{srv.url}/up", data=iter([b"abc", b"", b"defg", b"h" * 100]), timeout=T)
    env = r.json()
    assert env["HTTP_TRANSFER_ENCODING"] == "chunked"
    assert env["body"] == "abcdefg" + "h" * 100 and env["CONTENT_LENGTH"] == "107"


def test_expect_100_continue(srv: Server) -> None:
    with connect(srv) as sock:
        sock.sendall(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"data")
        status, _, body = read_response(sock)
        assert status == b"HTTP/1.1 200 OK" and json.loads(body)["body"] == "data"


def test_oversize_body_gets_413_and_close(srv: Server) -> None:
    r = requests.post(f"{srv.url}/big", data=b"x" * 8_000_000, timeout=T)  # bigger than socket buffers
    assert r.status_code == 413 and r.headers["Connection"] == "close"
    error = r.json()["errors"][0]
    assert (error["status"], error["title"]) == ("413", "Payload Too Large") and "1000" in error["detail"]
    # Chunked bodies have no Content-Length up front; the limit still applies as they stream in.
    with connect(srv) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"200\r\n" + b"y" * 512 + b"\r\n" + b"200\r\n" + b"y" * 512 + b"\r\n")
        status, _, _ = read_response(sock)
        assert status == b"HTTP/1.1 413 Payload Too Large"
        assert read_to_eof(sock) == b""
    assert requests.post(f"{srv.url}/ok", data=b"x" * 1000, timeout=T).status_code == 200


def test_garbage_gets_400_and_close(srv: Server) -> None:
    with connect(srv) as sock:
        sock.sendall(b"\x16\x03\x01 definitely not http\r\n\r\n")
        status, headers, body = read_response(sock)
        assert status == b"HTTP/1.1 400 Bad Request" and headers["connection"] == "close"
        assert json.loads(body)["errors"][0]["status"] == "400"
        assert read_to_eof(sock) == b""
    assert requests.get(srv.url, timeout=T).status_code == 200


def test_head_sends_no_body(srv: Server) -> None:
    with connect(srv) as sock:
        sock.sendall(b"HEAD /act?size=5 HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /act?size=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = bytearray()
        while buf.count(b"\r\n\r\n") < 2 or not buf.endswith(b"xx"):
            buf += sock.recv(4096)
        assert b"Content-Length: 5\r\n" in buf and b"xxxxx" not in buf


# -- transport actions ---------------------------------------------------------------------------------------
def test_delay(srv: Server) -> None:
    t0 = time.monotonic()
    r = requests.get(f"{srv.url}/act?delay=0.4", timeout=T)
    elapsed = time.monotonic() - t0
    assert r.status_code == 200 and r.content == b"x" * 10
    assert 0.4 <= elapsed < 1.5


def test_concurrent_delays_do_not_hold_threads(srv: Server) -> None:
    def delayed() -> float:
        t = time.monotonic()
        assert requests.get(f"{srv.url}/act?delay=0.5", timeout=T).status_code == 200
        return time.monotonic() - t

    with ThreadPoolExecutor(21) as pool:
        t0 = time.monotonic()
        futures = [pool.submit(delayed) for _ in range(20)]
        time.sleep(0.1)
        t1 = time.monotonic()
        assert requests.get(f"{srv.url}/now", timeout=T).status_code == 200
        undelayed = time.monotonic() - t1
        durations = [f.result(timeout=T) for f in futures]
        total = time.monotonic() - t0
    assert undelayed < 0.2
    assert min(durations) >= 0.5 and total < 2.0


def test_hang_times_out_client_and_server_keeps_serving(srv: Server) -> None:
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{srv.url}/act?kind=hang", timeout=0.3)
    with connect(srv) as hung:
        hung.sendall(b"GET /act?kind=hang HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.monotonic()
        assert requests.get(f"{srv.url}/fine", timeout=T).status_code == 200
        assert time.monotonic() - t0 < 0.2
        hung.settimeout(0.3)
        with pytest.raises(TimeoutError):
            hung.recv(1)


def test_hang_with_hang_seconds_closes(srv: Server) -> None:
    with connect(srv) as sock:
        t0 = time.monotonic()
        sock.sendall(b"GET /act?kind=hang&hang=0.3&delay=0.1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_to_eof(sock) == b""
        # 0.1 s delay + 0.3 s hang; uvloop's timers have millisecond resolution and may fire up to ~1 ms early.
        assert 0.4 - LOOP_TIMER_SLACK <= time.monotonic() - t0 < 2.0
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{srv.url}/act?kind=hang&hang=0.2", timeout=T)


def test_reset(srv: Server) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{srv.url}/act?kind=reset", timeout=T)
    with connect(srv) as sock:
        t0 = time.monotonic()
        sock.sendall(b"GET /act?kind=reset&delay=0.2 HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            sock.recv(1)
        assert time.monotonic() - t0 >= 0.2


def test_empty_reply(srv: Server) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{srv.url}/act?kind=empty_reply", timeout=T)
    with connect(srv) as sock:
        sock.sendall(b"GET /act?kind=empty_reply HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_to_eof(sock) == b""  # a clean FIN, not a reset


def test_dribble(srv: Server) -> None:
    t0 = time.monotonic()
    r = requests.get(f"{srv.url}/act?kind=dribble&size=50&chunk=10&interval=0.1", timeout=T)
    elapsed = time.monotonic() - t0
    assert r.status_code == 200 and r.content == b"x" * 50 and r.headers["Content-Length"] == "50"
    assert 0.45 <= elapsed < 1.5  # 5 chunks x 0.1 s
    with connect(srv) as sock:  # the head comes first, the body trickles after it; keep-alive survives
        sock.sendall(b"GET /act?kind=dribble&size=4&chunk=2&interval=0.2 HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(4096)
        assert first.endswith(b"\r\n\r\n") and b"Content-Length: 4" in first
        sock.sendall(b"GET /act?size=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = bytearray(first)
        assert read_response(sock, buf)[2] == b"xxxx"
        assert read_response(sock, buf)[2] == b"x"


# -- errors --------------------------------------------------------------------------------------------------
def test_app_exception_gives_500_and_calls_hook(srv: Server, errors: list[tuple[BaseException, Any]]) -> None:
    r = requests.get(f"{srv.url}/boom", timeout=T)
    assert r.status_code == 500 and r.headers["X-Rivosim-Bug"] == "1"
    assert r.json() == {"errors": [{"status": "500", "title": "Internal Server Error",
                                    "detail": "ValueError: kaboom"}], "error": "ValueError: kaboom"}
    [(exc, env)] = errors
    assert isinstance(exc, ValueError) and env["PATH_INFO"] == "/boom"
    assert requests.get(srv.url, timeout=T).status_code == 200


def test_start_response_exc_info_and_write_callable() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("X-First", "1")])
        write(b"partial ")
        if environ["PATH_INFO"] == "/fail":
            try:
                raise KeyError("x")
            except KeyError:
                import sys

                start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
            return [b"replaced"]
        with pytest.raises(AssertionError):
            start_response("200 OK", [])
        return [b"rest"]

    with Server(app) as s:
        r = requests.get(s.url, timeout=T)
        assert (r.status_code, r.content, r.headers["X-First"]) == (200, b"partial rest", "1")
        r = requests.get(f"{s.url}/fail", timeout=T)
        assert (r.status_code, r.content, "X-First" in r.headers) == (503, b"replaced", False)


def test_app_headers_win_and_content_length_is_computed() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Server", "custom"), ("Date", "Thu, 01 Jan 2026 00:00:00 GMT")])
        yield b"ab"
        yield b"cd"

    with Server(app) as s:
        r = requests.get(s.url, timeout=T)
    assert r.content == b"abcd" and r.headers["Content-Length"] == "4"
    assert (r.headers["Server"], r.headers["Date"]) == ("custom", "Thu, 01 Jan 2026 00:00:00 GMT")


# -- tick, call_soon, lifecycle ------------------------------------------------------------------------------
def test_tick_runs_repeatedly_and_survives_exceptions() -> None:
    calls: list[int] = []
    errors: list[tuple[BaseException, Any]] = []

    def tick() -> None:
        calls.append(threading.get_ident())
        if len(calls) == 2:
            raise RuntimeError("tick failed")

    def hook(exc: BaseException, env: Any) -> None:
        errors.append((exc, env))

    with Server(wsgi_app, tick=tick, tick_interval=0.02, on_app_error=hook) as s:
        deadline = time.monotonic() + T
        while len(calls) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        app_thread = requests.get(s.url, timeout=T).json()["thread"]
    assert len(calls) >= 6 and set(calls) == {app_thread} != {threading.get_ident()}
    assert len(errors) == 1 and isinstance(errors[0][0], RuntimeError) and errors[0][1] is None


def test_call_soon_runs_on_loop_thread(srv: Server, errors: list[tuple[BaseException, Any]]) -> None:
    done = threading.Event()
    seen: list[Any] = []
    srv.call_soon(lambda a, b: (seen.append((threading.get_ident(), a, b)), done.set()), 1, 2)
    assert done.wait(T)
    loop_thread = requests.get(srv.url, timeout=T).json()["thread"]
    assert seen == [(loop_thread, 1, 2)] and loop_thread != threading.get_ident()
    srv.call_soon(int, "not a number")  # its exception goes to the hook, the loop carries on
    assert requests.get(srv.url, timeout=T).status_code == 200
    assert len(errors) == 1 and isinstance(errors[0][0], ValueError) and errors[0][1] is None


def test_call_soon_requires_running_server() -> None:
    with pytest.raises(RuntimeError):
        Server(wsgi_app).call_soon(print)


def test_start_stop_fast_idempotent_with_hung_connection(loop_kind: str) -> None:
    t0 = time.monotonic()
    s = Server(wsgi_app, port=0).start()
    assert time.monotonic() - t0 < 0.5
    assert s.port > 0 and s.url == f"http://127.0.0.1:{s.port}"
    hung = socket.create_connection(("127.0.0.1", s.port), timeout=T)
    hung.sendall(b"GET /act?kind=hang HTTP/1.1\r\nHost: x\r\n\r\n")
    assert requests.get(s.url, timeout=T).status_code == 200  # the hung request has reached the app
    t0 = time.monotonic()
    s.stop()
    assert time.monotonic() - t0 < 0.5
    assert hung.recv(1) == b""  # the hung connection was closed by stop()
    hung.close()
    s.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(s.url, timeout=1)


def test_bind_failure_raises_and_port_is_reusable() -> None:
    with Server(wsgi_app) as s:
        with pytest.raises(OSError):
            Server(wsgi_app, port=s.port).start()
        port = s.port
    with Server(wsgi_app, port=port) as again:  # SO_REUSEADDR: the same port right after stop
        assert requests.get(again.url, timeout=T).status_code == 200


def test_serve_forever_runs_until_stopped() -> None:
    s = Server(wsgi_app)
    thread = threading.Thread(target=s.serve_forever, daemon=True)
    thread.start()
    deadline = time.monotonic() + T
    while s.port == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    while time.monotonic() < deadline:
        try:
            assert requests.get(s.url, timeout=T).status_code == 200
            break
        except requests.exceptions.ConnectionError:
            time.sleep(0.01)
    else:
        pytest.fail("serve_forever never answered")
    s.stop()
    thread.join(T)
    assert not thread.is_alive()
